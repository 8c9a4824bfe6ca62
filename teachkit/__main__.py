"""Command line: python -m teachkit {train, evaluate, assign, grade, bench, notebooks}."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from teachkit.evaluation.cli import add_evaluate_arguments, cmd_evaluate

__all__ = ["main", "build_parser", "cmd_evaluate"]

# the train command lives in teachkit.training.cli, the evaluate command in teachkit.evaluation.cli


def _load_named(name: str, out: Path):
    """A model from the --out directory when it holds NAME.json, else the shipped one."""
    from teachkit.checkpoints import load_checkpoint, load_pretrained

    return load_checkpoint(out / name) if (out / f"{name}.json").exists() else load_pretrained(name)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser with one subparser per subcommand."""
    from teachkit.checkpoints import PRETRAINED, checkpoint_dir

    parser = argparse.ArgumentParser(prog="python -m teachkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    from teachkit.training.cli import add_train_arguments, train_help

    p = sub.add_parser("train", help="train a shipped model with its recorded recipe (into runs/, never over the shipped one)",
                       description="Train NAME with its recorded recipe (teachkit.training.recipes.RECIPES: a TrainConfig and a "
                       "model builder). It writes OUT/NAME.safetensors + OUT/NAME.json (OUT defaults to ./runs), the "
                       "whole TrainConfig in the JSON, and never overwrites the shipped checkpoint in "
                       f"{checkpoint_dir()} unless --replace-shipped is given. The same command and "
                       "--seed give bit-identical weights on the same machine and thread count.",
                       epilog=train_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_arguments(p)
    p = sub.add_parser("evaluate", help="measure a checkpoint's quality (one setting, or its recorded ones)",
                       description="Measure NAME with teachkit.evaluate: at one setting (--sampler/--steps/--scale/--n), "
                       "or at its recorded settings (teachkit.evaluation.QUALITY), stored in NAME.json with --write. "
                       "--table prints the quality tables README.md and data/README.md quote, from the records.")
    add_evaluate_arguments(p)
    p.set_defaults(func=cmd_evaluate)
    from teachkit.sampling_cli import add_sampler_arguments, cmd_sample

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
