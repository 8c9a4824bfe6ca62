"""Command line: python -m teachkit {train, evaluate, assign, grade, bench, notebooks}."""
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


def _check_train_flags(args: argparse.Namespace) -> None:
    """One clear line (exit 2) for a flag value training cannot use, before anything is built or written."""
    for flag, value in (("--steps", args.steps), ("--batch-size", args.batch_size), ("--threads", args.threads),
                        ("--checkpoint-every", args.checkpoint_every)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} {value}: must be a positive integer")


def _load_teacher(name: str, path: str | None):
    """A distilled student's teacher: the shipped one, or the checkpoint at --teacher PATH (an eps-model of the same class)."""
    from teachkit.checkpoints import load_checkpoint, load_pretrained

    shipped = load_pretrained(name)
    if path is None:
        return shipped
    teacher, schedule, info = load_checkpoint(path)
    if info.get("model_class") != shipped[2]["model_class"] or getattr(teacher, "prediction", "eps") != "eps" \
            or getattr(teacher, "grid", None) is not None:
        raise ValueError(f"--teacher {path} is a {info.get('model_class')} predicting {getattr(teacher, 'prediction', 'eps')!r}; "
                         f"this recipe distills an eps-model {shipped[2]['model_class']} like the shipped {name}")
    return teacher, schedule, info


def _train_out(args: argparse.Namespace) -> Path:
    """Where NAME.safetensors/.json go: --out (default runs/), or the shipped directory with --replace-shipped only."""
    from teachkit.checkpoints import checkpoint_dir

    shipped = checkpoint_dir().resolve()
    if args.replace_shipped:
        if args.out is not None and Path(args.out).resolve() != shipped:
            raise ValueError(f"--replace-shipped writes to {shipped}; drop --out {args.out} (or drop --replace-shipped)")
        return shipped
    out = Path(args.out if args.out is not None else "runs")
    if out.resolve() == shipped:
        raise ValueError(f"--out {out} is the shipped checkpoint directory: training there would replace the shipped "
                         f"{args.name}. Pass --replace-shipped to do that on purpose (git checkout -- "
                         f"data/checkpoints/{args.name}.* undoes it), or write elsewhere (default: runs/)")
    return out


def cmd_train(args: argparse.Namespace) -> int:
    """Train a shipped model by name with its recorded recipe and write OUT/NAME.safetensors + .json (never the shipped files unless --replace-shipped)."""
    import torch

    import teachkit
    from teachkit.atomic import check_writable, file_lock
    from teachkit.checkpoints import save_checkpoint, schedule_from_spec, schedule_spec
    from teachkit.recipes import RECIPES, build, train_classifier
    from teachkit.runtime import pick_device
    from teachkit.training import train

    recipe = RECIPES[args.name]
    _check_train_flags(args)
    device = pick_device(args.device)
    out = check_writable(_train_out(args), "--out")
    run_dir = check_writable(Path(args.run_dir), "--run-dir")
    if args.resume and not (run_dir / args.name / "last.safetensors").exists():
        raise FileNotFoundError(f"--resume: there is no training state at {run_dir / args.name / 'last.safetensors'}; "
                                "drop --resume to start, or pass the --run-dir of the run to continue")
    torch.set_num_threads(args.threads)
    hp = dict(recipe["train"])
    if args.steps is not None:
        hp["steps"] = args.steps
    if args.batch_size is not None:
        hp["batch_size"] = args.batch_size
    with file_lock(out / args.name, what=f"the output {out / args.name}"):
        t0 = time.perf_counter()
        # seeded before the build, so the initial weights (and so every weight after) follow --seed
        model, x, y = build(args.name, args.seed)
        spec = schedule_spec(**recipe["schedule"]) if recipe["schedule"] else None
        extra = {}
        state = dict(checkpoint_dir=run_dir / args.name, checkpoint_every=args.checkpoint_every, resume=args.resume)
        if recipe["kind"] == "classifier":
            losses = train_classifier(model, x, y, seed=args.seed, device=device, progress=not args.quiet, **hp)
            trained = model
        elif recipe["kind"] == "distilled":
            from teachkit.distill import distill

            teacher, schedule, teacher_info = _load_teacher(recipe["teacher"], args.teacher)
            print(f"teacher: {args.teacher or 'the shipped ' + recipe['teacher']} "
                  f"(weights sha256 {teacher_info['weights_sha256'][:12]}...)")
            result = distill(teacher, schedule, x, y, seed=args.seed, device=device, progress=not args.quiet,
                             **state, **hp)
            losses, trained = result.losses, result.ema_model
            # what load_checkpoint and distilled_sample need: the output is v, the guidance scale is baked in
            extra = {"prediction": trained.prediction, "guidance_scale": hp["guidance_scale"],
                     "teacher": {"name": recipe["teacher"], "weights_sha256": teacher_info["weights_sha256"],
                                 **({"path": str(args.teacher)} if args.teacher else {})}}
        elif recipe["kind"] == "flow":
            from teachkit.flow import flow_path_from_spec
            from teachkit.flow_matching import train_flow

            result = train_flow(model, flow_path_from_spec(recipe["path"]), x, y, seed=args.seed, device=device,
                                progress=not args.quiet, **state, **hp)
            losses, trained = result.losses, result.ema_model
            # what load_checkpoint and flow_sample need: the output is a velocity on this path, t is continuous
            extra = {"prediction": trained.prediction, "path": dict(recipe["path"])}
        else:
            schedule = schedule_from_spec(spec)
            result = train(model, schedule, x, y, seed=args.seed, device=device, progress=not args.quiet, **state, **hp)
            losses, trained = result.losses, result.ema_model
        wall = time.perf_counter() - t0
        tail = losses[-100:]
        final_loss = round(sum(tail) / len(tail), 5)
        if final_loss != final_loss or abs(final_loss) == float("inf"):
            raise ValueError(f"training ended with a non-finite loss ({final_loss}); nothing was written")
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
            "final_loss": final_loss,
            "quality": None,
            **extra,
        }
        old_json = out / f"{args.name}.json"
        previous = json.loads(old_json.read_text()) if args.replace_shipped and old_json.exists() else None
        path = save_checkpoint(out / args.name, trained.cpu(), spec, info, dtype=recipe["dtype"])
    print(f"wrote {path} and {path.with_suffix('.json')} ({wall:.0f} s, final loss {info['final_loss']})")
    if args.replace_shipped:
        was = ("a new shipped model" if previous is None else
               f"it was weights sha256 {str(previous.get('weights_sha256'))[:12]}..., trained {previous.get('trained_at')} "
               f"with {previous.get('hyperparameters', {}).get('steps')} steps, final loss {previous.get('final_loss')}")
        print(f"replaced the shipped {args.name} in {out} ({was}); `git checkout -- data/checkpoints/{args.name}.*` "
              "restores the committed one")
    if not args.no_eval:
        # evaluate's own parser fills in its defaults, so new evaluate flags never break this call
        eval_argv = ["evaluate", args.name, "--out", str(out), "--write"] + (["--device", args.device] if args.device else [])
        eval_args = build_parser().parse_args(eval_argv)
        eval_args.threads = None  # keep train's --threads
        return cmd_evaluate(eval_args)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Measure a checkpoint's quality with its recipe's evaluation and print it (and store it in the JSON with --write)."""
    import torch

    from teachkit.checkpoints import load_checkpoint
    from teachkit.recipes import evaluate_classifier, evaluate_mnist_cfg, evaluate_toy

    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads {args.threads}: must be a positive integer")
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
    elif info.get("prediction") == "velocity":
        from teachkit.flow_eval import evaluate_flow_mnist, evaluate_flow_toy

        if model.sample_shape == (1, 28, 28):
            quality = evaluate_flow_mnist(model, schedule, _load_named("mnist-classifier", out)[0], device=args.device)
        else:
            quality = evaluate_flow_toy(model, schedule, device=args.device)
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
        from teachkit.checkpoints import update_quality

        json_path = update_quality(out / args.name, quality)  # atomic; quality lies outside record_sha256
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
    p = sub.add_parser("train", help="train a shipped model with its recorded recipe (into runs/, never over the shipped one)",
                       description="Train NAME with its recorded recipe (teachkit.recipes.RECIPES). It writes "
                       "OUT/NAME.safetensors + OUT/NAME.json (OUT defaults to ./runs) and never overwrites the shipped "
                       f"checkpoint in {checkpoint_dir()} unless --replace-shipped is given. The same command and "
                       "--seed give bit-identical weights on the same machine and thread count.")
    p.add_argument("name", choices=PRETRAINED)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's)")
    p.add_argument("--batch-size", type=int, default=None, help="examples per step (default: the recipe's)")
    p.add_argument("--seed", type=int, default=0, help="seeds the model's initialization and every draw after it")
    p.add_argument("--out", default=None, help="where NAME.safetensors/.json go (default: runs/; the shipped "
                   "directory is refused without --replace-shipped)")
    p.add_argument("--replace-shipped", action="store_true", help="write over the shipped checkpoint in "
                   f"{checkpoint_dir()} (prints what it replaced; git checkout restores it)")
    p.add_argument("--run-dir", default="runs", help="training state for --resume (RUN_DIR/NAME/last.safetensors)")
    p.add_argument("--teacher", default=None, help="distilled students only: the teacher checkpoint to distill "
                   "(PATH of a .safetensors/.json pair; default: the shipped teacher)")
    p.add_argument("--checkpoint-every", type=int, default=250, help="save the training state every N steps (default 250)")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/NAME/last.* (same flags, bit-identical)")
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
    from teachkit.coursework import cli as coursework

    p = sub.add_parser("assign", help="otter assign: student notebooks and autograder zips of the exercises")
    coursework.add_assign_arguments(p)
    p.set_defaults(func=coursework.cmd_assign)
    p = sub.add_parser("grade", help="grade SUBMISSIONS/<student>/<exercise>.ipynb with otter, one isolated process each")
    coursework.add_grade_arguments(p)
    p.set_defaults(func=coursework.cmd_grade)
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
    from teachkit.lesson_runner import main as notebooks_main

    return notebooks_main(args.rest)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m teachkit` and the `teachkit` script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PASS_THROUGH:  # subcommands that own their whole parser, --help included
        func, command, parser = PASS_THROUGH[argv[0]], argv[0], argparse.ArgumentParser(prog="python -m teachkit")
        args = argparse.Namespace(rest=argv[1:])
    else:
        parser = build_parser()
        args = parser.parse_args(argv)
        args.argv = argv
        func, command = args.func, args.command
    try:
        return func(args)
    except (ValueError, FileNotFoundError, FloatingPointError) as err:
        # bad input (no CUDA, a missing or modified file): one clear line, not a traceback
        parser.exit(2, f"python -m teachkit {command}: error: {err}\n")


PASS_THROUGH = {"bench": _bench, "notebooks": _notebooks}

if __name__ == "__main__":
    sys.exit(main())
