"""`python -m teachkit.website [--out build/site]`: build the lessons into a static website."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from .build import build_site


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m teachkit.website", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("build/site"), help="output folder (replaced)")
    parser.add_argument("--no-players", action="store_true",
                        help="skip running the lessons: explorers show their stored static figure")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell when running a lesson")
    parser.add_argument("--cache", type=Path, default=None,
                        help="keep the players in this folder, so a rebuild runs only lessons whose code changed")
    parser.add_argument("--only", nargs="+", metavar="LESSON", help="build only these lessons (e.g. 02_ddpm_2d)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    pages = build_site(args.out, players=not args.no_players, timeout=args.timeout, cache=args.cache,
                       only=args.only)
    print(f"wrote {len(pages)} lesson pages and index.html to {args.out} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
