"""The `assign` and `grade` subcommands of `python -m teachkit` (argparse only; the work is in assign.py and grade.py)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_assign_arguments", "cmd_assign", "add_grade_arguments", "cmd_grade"]


def add_assign_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("notebooks", nargs="*", type=Path, help="instructor notebooks (default: notebooks/exercises/ex*.ipynb)")
    p.add_argument("--out", type=Path, default=Path("coursework"),
                   help="writes OUT/student/<exercise>.ipynb, OUT/autograder/<exercise>.zip, OUT/solutions/ (default: coursework)")
    p.add_argument("--no-run-tests", action="store_true", help="skip otter's run of every test on the solved notebooks")
    p.add_argument("--install-url", default=None,
                   help="pip URL the student notebooks install teachkit from when it is missing (Colab), "
                        "e.g. 'git+https://github.com/ORG/teachkit'")


def cmd_assign(args: argparse.Namespace) -> int:
    from .assign import assign

    assign(args.out, args.notebooks or None, run_tests=not args.no_run_tests, install_url=args.install_url)
    print(f"assign: handouts in {args.out / 'student'}, autograder zips in {args.out / 'autograder'} "
          f"(grade with: python -m teachkit grade SUBMISSIONS --autograder {args.out / 'autograder'} --out grades.csv)")
    return 0


def add_grade_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("submissions", type=Path, help="folder of SUBMISSIONS/<student>/<exercise>.ipynb")
    p.add_argument("--out", type=Path, default=Path("grades.csv"), help="CSV to write (a .md summary goes beside it)")
    p.add_argument("--autograder", type=Path, default=None,
                   help="folder of <exercise>.zip from `assign` (default: a fresh assign of notebooks/exercises)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per notebook, kernel start included (default 300)")
    p.add_argument("--memory-mb", type=int, default=4096, help="address-space limit per notebook in MB (default 4096)")
    p.add_argument("--protect", type=Path, action="append", default=[],
                   help="another folder no submission may change (repeatable; the submissions, the autograder "
                        "folder, notebooks/exercises and teachkit are always protected)")


def cmd_grade(args: argparse.Namespace) -> int:
    from .grade import grade

    rows = grade(args.submissions, args.out, args.autograder, timeout=args.timeout, memory_mb=args.memory_mb,
                 protect=args.protect)
    odd = sorted({(r["student"], r["exercise"], r["status"]) for r in rows
                  if r["status"] not in ("passed", "partial", "failed", "missing")})
    for student, exercise, status in odd:
        print(f"grade: note: {student}/{exercise}: {status} (see {args.out.with_suffix('.md')})", file=sys.stderr)
    return 0
