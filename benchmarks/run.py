"""Run every benchmark: `python benchmarks/run.py [--quick] [--out DIR] [--only toy mnist speed cuda]`."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from teachkit.bench import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
