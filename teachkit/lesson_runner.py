"""Re-execute the lessons in place from a clean kernel, so stored outputs are what CI's nbval reproduces."""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from teachkit.resources import checkout_root

__all__ = ["execute_notebook", "find_notebooks", "main"]


def find_notebooks(root: Path | None = None) -> list[Path]:
    """Every lesson and instructor notebook in reading order (generated student copies excluded)."""
    if root is None:
        root = checkout_root("python -m teachkit notebooks") / "notebooks"
    paths = sorted(p for p in Path(root).rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts and "student" not in p.parts)
    return paths


def execute_notebook(path: Path, timeout: int = 600, kernel_name: str = "python3") -> float:
    """Run one notebook top to bottom in a fresh kernel (cwd = its folder) and write it back; returns seconds."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    # the same environment CI gives nbval: one notebook at a time, deterministic hashing
    env_before = os.environ.get("PYTHONHASHSEED")
    os.environ["PYTHONHASHSEED"] = "0"
    start = time.perf_counter()
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()
    finally:
        if env_before is None:
            os.environ.pop("PYTHONHASHSEED", None)
        else:
            os.environ["PYTHONHASHSEED"] = env_before
    nb.metadata.pop("widgets", None)  # widget state from a headless run is meaningless to a reader
    nbformat.write(nb, path)
    return time.perf_counter() - start


def _check_notebook(path: Path) -> None:
    """A clear ValueError unless `path` is a readable .ipynb notebook (JSON with cells)."""
    import nbformat

    if path.is_dir() or path.suffix != ".ipynb":
        raise ValueError(f"{path} is not a notebook: give .ipynb files (or nothing, for every lesson)")
    try:
        nbformat.read(path, as_version=4)
    except Exception as err:  # nbformat raises JSON, validation and OS errors of several types
        raise ValueError(f"{path} is not a readable notebook ({type(err).__name__}: {str(err).splitlines()[0][:120]})") from None


def main(argv: list[str] | None = None) -> int:
    """`python -m teachkit notebooks --execute [PATHS...]`."""
    parser = argparse.ArgumentParser(prog="python -m teachkit notebooks", description=__doc__)
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks to run (default: all lessons)")
    parser.add_argument("--execute", action="store_true", help="execute in place (otherwise only list them)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = args.paths or find_notebooks()
    for p in paths:  # every path checked before any notebook runs
        if not p.exists():
            parser.error(f"{p}: no such notebook")
        _check_notebook(p)
    for p in paths:
        if args.execute:
            seconds = execute_notebook(p, timeout=args.timeout)
            print(f"executed {p} in {seconds:.1f} s")
        else:
            print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
