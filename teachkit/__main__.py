"""Command line: python -m teachkit {train, evaluate, assign, grade, bench, notebooks}."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

__all__ = ["main", "build_parser"]

# the train command lives in teachkit.training_cli


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
    from teachkit.training_cli import add_train_arguments, train_help

    p = sub.add_parser("train", help="train a shipped model with its recorded recipe (into runs/, never over the shipped one)",
                       description="Train NAME with its recorded recipe (teachkit.recipes.RECIPES: a TrainConfig and a "
                       "model builder). It writes OUT/NAME.safetensors + OUT/NAME.json (OUT defaults to ./runs), the "
                       "whole TrainConfig in the JSON, and never overwrites the shipped checkpoint in "
                       f"{checkpoint_dir()} unless --replace-shipped is given. The same command and "
                       "--seed give bit-identical weights on the same machine and thread count.",
                       epilog=train_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_arguments(p)
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
