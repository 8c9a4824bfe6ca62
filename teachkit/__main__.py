"""Command line: python -m teachkit {train, evaluate, assign, bench, notebooks}."""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["main", "build_parser"]


def _machine(threads: int) -> dict:
    import torch

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": threads, "torch": torch.__version__,
            "python": platform.python_version(),
            # other jobs shared these cores while it ran: the 1-minute load average at the end says how busy
            "load_average_1min": round(os.getloadavg()[0], 1)}


def cmd_train(args: argparse.Namespace) -> int:
    """Train a shipped model by name with its recorded recipe and write OUT/NAME.safetensors + .json."""
    import torch

    import teachkit
    from teachkit.checkpoints import save_checkpoint, schedule_from_spec, schedule_spec
    from teachkit.recipes import RECIPES, train_classifier
    from teachkit.runtime import pick_device
    from teachkit.training import train

    recipe = RECIPES[args.name]
    device = pick_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    hp = dict(recipe["train"])
    if args.steps is not None:
        hp["steps"] = args.steps
    if args.batch_size is not None:
        hp["batch_size"] = args.batch_size
    out = Path(args.out)
    t0 = time.perf_counter()
    model, x, y = recipe["build"]()
    spec = schedule_spec(**recipe["schedule"]) if recipe["schedule"] else None
    extra = {}
    if recipe["kind"] == "classifier":
        losses = train_classifier(model, x, y, seed=args.seed, device=device, progress=not args.quiet, **hp)
        trained = model
    elif recipe["kind"] == "distilled":
        from teachkit.distill import distill

        teacher, schedule, teacher_info = _load_named(recipe["teacher"], out)
        result = distill(teacher, schedule, x, y, seed=args.seed, device=device, progress=not args.quiet,
                         checkpoint_dir=Path(args.run_dir) / args.name, checkpoint_every=250, resume=args.resume, **hp)
        losses, trained = result.losses, result.ema_model
        # what load_checkpoint and distilled_sample need: the output is v, the guidance scale is baked in
        extra = {"prediction": trained.prediction, "guidance_scale": hp["guidance_scale"],
                 "teacher": {"name": recipe["teacher"], "weights_sha256": teacher_info["weights_sha256"]}}
    else:
        schedule = schedule_from_spec(spec)
        ckpt_dir = Path(args.run_dir) / args.name
        result = train(model, schedule, x, y, seed=args.seed, device=device, progress=not args.quiet,
                       checkpoint_dir=ckpt_dir, checkpoint_every=250, resume=args.resume, **hp)
        losses, trained = result.losses, result.ema_model
    wall = time.perf_counter() - t0
    tail = losses[-100:]
    info = {
        "name": args.name,
        "command": "python -m teachkit " + shlex.join(args.argv),
        "seed": args.seed,
        "hyperparameters": hp,
        "parameters": sum(p.numel() for p in trained.parameters()),
        "data": recipe["data"],
        "data_sha256": recipe.get("data_sha256"),
        "teachkit_version": teachkit.__version__,
        "trained_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wall_time_s": round(wall, 1),
        "device": str(device),
        "machine": _machine(torch.get_num_threads()),
        "final_loss": round(sum(tail) / len(tail), 5),
        "quality": None,
        **extra,
    }
    path = save_checkpoint(out / args.name, trained.cpu(), spec, info, dtype=recipe["dtype"])
    print(f"wrote {path} and {path.with_suffix('.json')} ({wall:.0f} s, final loss {info['final_loss']})")
    if not args.no_eval:
        return cmd_evaluate(argparse.Namespace(name=args.name, out=args.out, device=args.device, write=True, threads=None))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Measure a checkpoint's quality with its recipe's evaluation and print it (and store it in the JSON with --write)."""
    import torch

    from teachkit.checkpoints import load_checkpoint
    from teachkit.recipes import evaluate_classifier, evaluate_mnist_cfg, evaluate_toy

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    model, schedule, info = load_checkpoint(out / args.name, device="cpu")
    t0 = time.perf_counter()
    if args.sampler is not None or args.steps is not None or args.scale is not None:
        # one (sampler, steps, scale) setting from the registry, instead of the recipe's own evaluation
        from teachkit.sampling_cli import evaluate_sampler, print_json

        if schedule is None:
            raise ValueError(f"{args.name} is not a generative model: evaluate it without --sampler/--steps/--scale")
        classifier = None if model.sample_shape == (2,) else _load_named("mnist-classifier", out)[0]
        print_json(evaluate_sampler(model, schedule, info, args.sampler, args.steps, args.scale, n=args.n,
                                    classifier=classifier))
        return 0
    if args.name == "mnist-classifier":
        quality = evaluate_classifier(model, device=args.device)
    elif args.name == "mnist-cfg":
        classifier = _load_named("mnist-classifier", out)[0]
        quality = evaluate_mnist_cfg(model, schedule, classifier, device=args.device)
        quality["classifier"] = "mnist-classifier"
    elif info.get("prediction") == "v":
        from teachkit.recipes import evaluate_distilled_mnist, evaluate_distilled_toy

        teacher = _load_named(info["teacher"]["name"], out)[0]
        if teacher.sample_shape == (1, 28, 28):
            classifier = _load_named("mnist-classifier", out)[0]
            quality = evaluate_distilled_mnist(model, teacher, schedule, classifier,
                                               guidance_scale=info["guidance_scale"], device=args.device)
        else:
            quality = evaluate_distilled_toy(model, teacher, schedule, guidance_scale=info["guidance_scale"],
                                             device=args.device)
    else:
        quality = evaluate_toy(model, schedule, device=args.device)
    quality["evaluation_seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(quality, indent=1))
    if args.write:
        json_path = out / f"{args.name}.json"
        record = json.loads(json_path.read_text())
        record["quality"] = quality
        json_path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"stored quality in {json_path}")
    return 0


def _load_named(name: str, out: Path):
    """A model from the --out directory when it holds NAME.json, else the shipped one."""
    from teachkit.checkpoints import load_checkpoint, load_pretrained

    return load_checkpoint(out / name) if (out / f"{name}.json").exists() else load_pretrained(name)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser with one subparser per subcommand."""
    from teachkit.checkpoints import PRETRAINED, checkpoint_dir

    parser = argparse.ArgumentParser(prog="python -m teachkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train a shipped model with its recorded recipe")
    p.add_argument("name", choices=PRETRAINED)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(checkpoint_dir()), help="where NAME.safetensors/.json go")
    p.add_argument("--run-dir", default="runs", help="training state for --resume")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/NAME/last.*")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--no-eval", action="store_true", help="skip the quality measurement")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("evaluate", help="measure a checkpoint's quality")
    p.add_argument("name", choices=PRETRAINED)
    p.add_argument("--out", default=str(checkpoint_dir()), help="directory holding NAME.safetensors/.json")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--write", action="store_true", help="store the result in NAME.json")
    from teachkit.sampling_cli import add_sampler_arguments, cmd_sample

    add_sampler_arguments(p, required=False)
    p.add_argument("--n", type=int, default=None, help="samples for --sampler (default 2000 for 2-D, 200 digits)")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("sample", help="draw samples of a shipped model with any registry sampler")
    p.add_argument("name", choices=[n for n in PRETRAINED if n != "mnist-classifier"])
    add_sampler_arguments(p, required=False)
    p.add_argument("--n", type=int, default=16, help="number of samples (default 16)")
    p.add_argument("--class", dest="label", type=int, default=None, help="one class for all (default: all in turn)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--out", default=None, help="save a PNG: a digit grid or a 2-D scatter")
    p.add_argument("--dir", default=str(checkpoint_dir()), help="directory holding NAME.safetensors/.json")
    p.set_defaults(func=lambda args: cmd_sample(args, lambda name: _load_named(name, Path(args.dir))))
    from teachkit.assign import add_arguments as assign_arguments
    from teachkit.assign import cmd_assign

    p = sub.add_parser("assign", help="write student copies of the exercises (or --grade a submission)")
    assign_arguments(p)
    p.set_defaults(func=cmd_assign)
    # these two own their full argument parsers; the rest of the command line is passed on as it is
    for name, help_text, func in (("bench", "run the benchmarks (see benchmarks/README.md; --help for options)", _bench),
                                  ("notebooks", "list, or --execute in place, the lessons from a clean kernel",
                                   _notebooks)):
        p = sub.add_parser(name, help=help_text, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=func)
    return parser


def _bench(args: argparse.Namespace) -> int:
    from teachkit.bench.cli import main as bench_main

    return bench_main(args.rest)


def _notebooks(args: argparse.Namespace) -> int:
    from teachkit.notebook_tools import main as notebooks_main

    return notebooks_main(args.rest)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m teachkit` and the `teachkit` script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PASS_THROUGH:  # subcommands that own their whole parser, --help included
        return PASS_THROUGH[argv[0]](argparse.Namespace(rest=argv[1:]))
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as err:
        # bad input (no CUDA, a missing or modified file): one clear line, not a traceback
        parser.exit(2, f"python -m teachkit {args.command}: error: {err}\n")


PASS_THROUGH = {"bench": _bench, "notebooks": _notebooks}

if __name__ == "__main__":
    sys.exit(main())
