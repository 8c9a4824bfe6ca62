"""`python -m teachkit evaluate NAME [--sampler S --steps N --scale W --n N] [--write]` and `evaluate --table`.

argparse parses; everything measured is `teachkit.evaluate` (one setting) or `measure_quality` (the recorded
settings of NAME, stored in NAME.json with --write); `--table` renders the READMEs' quality tables from the records.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

__all__ = ["add_evaluate_arguments", "cmd_evaluate"]


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    """The evaluate subcommand's arguments (the sampler menu from teachkit.SAMPLERS)."""
    from teachkit.checkpoints import PRETRAINED, checkpoint_dir
    from teachkit.sampling_cli import add_sampler_arguments

    p.add_argument("name", nargs="?", choices=PRETRAINED, help="the model (omit with --table)")
    p.add_argument("--out", default=str(checkpoint_dir()), help="directory holding NAME.safetensors/.json "
                   "(and the mnist-classifier / teacher it needs, else the shipped ones)")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--write", action="store_true", help="store the recorded settings' result in NAME.json "
                   "(with --table: rewrite the tables in README.md and data/README.md)")
    add_sampler_arguments(p, required=False)
    p.add_argument("--n", type=int, default=None, help="samples for one setting (default 2000 for 2-D, 200 digits)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise and the reference data (default 0)")
    p.add_argument("--table", action="store_true", help="print the quality tables the READMEs quote, from the "
                   "shipped records (--check: exit 1 when a README's table differs)")
    p.add_argument("--check", action="store_true", help="with --table: compare, write nothing")


def _print_json(result: dict) -> None:
    # NaN (accuracy of an unconditional model) is printed as null: the output stays valid JSON
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        return [clean(x) for x in v] if isinstance(v, list) else v

    print(json.dumps(clean(result), indent=1))


def _table(args: argparse.Namespace) -> int:
    import teachkit
    from teachkit.evaluation import quality_tables, shipped_records, update_readmes

    if args.name is not None:
        raise ValueError("--table renders every shipped record: drop the NAME")
    root = Path(teachkit.__file__).resolve().parents[1]
    if (args.write or args.check) and not (root / "data" / "README.md").exists():
        raise FileNotFoundError(f"--table --write/--check edits README.md and data/README.md of a checkout; "
                                f"{root} is not one")
    if args.check:
        stale = update_readmes(root, check=True)
        for path in stale:
            print(f"{path}: its quality tables differ from the records (run evaluate --table --write)")
        return 1 if stale else 0
    if args.write:
        for path in update_readmes(root):
            print(f"rewrote the quality tables in {path}")
        return 0
    print(quality_tables(shipped_records()), end="")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Measure NAME at one setting (--sampler/--steps/--scale/--n), or at its recorded settings (stored with --write)."""
    import torch

    from teachkit.evaluation import evaluate, measure_quality

    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads {args.threads}: must be a positive integer")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.table:
        return _table(args)
    if args.check:
        raise ValueError("--check goes with --table")
    if args.name is None:
        raise ValueError("name the model to evaluate (or pass --table)")
    one = {"sampler": args.sampler, "steps": args.steps, "scale": args.scale, "n": args.n}
    if any(v is not None for v in one.values()) or args.seed:
        if args.write:
            raise ValueError("--write stores the recorded settings (teachkit.evaluation.QUALITY); drop "
                             "--sampler/--steps/--scale/--n/--seed to write, or --write to measure one setting")
        _print_json(evaluate(args.name, **one, seed=args.seed, device=args.device, checkpoints=args.out))
        return 0
    out = Path(args.out)
    quality = measure_quality(args.name, checkpoints=out, device=args.device,
                              progress=lambda line: print(line, file=sys.stderr, flush=True))
    _print_json(quality)
    if args.write:
        from teachkit.checkpoints import update_quality

        json_path = update_quality(out / args.name, quality)  # atomic; quality lies outside record_sha256
        print(f"stored quality in {json_path}")
    return 0
