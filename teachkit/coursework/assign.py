"""Student and autograder versions of the exercises, made by otter-grader's `otter assign`.

The instructor notebooks in notebooks/exercises/ are otter master notebooks (an ASSIGNMENT CONFIG raw
cell, then BEGIN/END QUESTION, SOLUTION and TESTS raw cells around each answer). `assign(out)` runs
otter assign on each one and collects the results under stable names:

    out/student/<exercise>.ipynb      the handout: stubs instead of answers, grader.check("...") cells
    out/autograder/<exercise>.zip     otter's autograder (all tests, hidden ones included): what `grade` uses
    out/solutions/<exercise>.ipynb    the solved notebook otter checked its tests against
"""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
from pathlib import Path

__all__ = ["EXERCISES", "assign", "exercise_notebooks"]

EXERCISES = Path(__file__).resolve().parents[2] / "notebooks" / "exercises"
PLACEHOLDER_URL = "git+https://github.com/YOUR-ORG/teachkit"


def exercise_notebooks(folder: Path = EXERCISES) -> list[Path]:
    """The instructor (master) notebooks: every exNN_*.ipynb in folder."""
    paths = sorted(Path(folder).glob("ex[0-9]*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no instructor notebooks (ex*.ipynb) in {folder}")
    return paths


def _check_master(path: Path) -> None:
    """A clear error for a notebook that is not an otter master notebook, before otter's own."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    first = next((c for c in nb.cells if c.cell_type == "raw"), None)
    if first is None or not first.source.lstrip().startswith("# ASSIGNMENT CONFIG"):
        raise ValueError(f"{path.name}: not an otter master notebook (its first raw cell must start with "
                         "'# ASSIGNMENT CONFIG'; see notebooks/exercises/README.md)")


def assign(out: Path, sources: list[Path] | None = None, *, run_tests: bool = True, install_url: str | None = None,
           log=print) -> dict[str, dict[str, Path]]:
    """Run otter assign on each source (default: every exercise) into out/{student,autograder,solutions}/.

    run_tests: let otter run every test against the solved notebook (a failing test stops with an error).
    install_url: the pip URL the student notebooks' first cell installs teachkit from (Colab).
    """
    from otter.assign import main as otter_assign

    from .kernels import ipc_kernels

    sources = [Path(p).resolve() for p in sources] if sources else exercise_notebooks()
    out = Path(out).resolve()
    for src in sources:
        if not src.is_file():
            raise FileNotFoundError(f"{src}: no such notebook")
        if out == src.parent or src.parent in out.parents:
            raise ValueError(f"--out {out} is inside the instructor notebooks' folder {src.parent}; write the "
                             "handouts elsewhere (nbval would collect the solved copies there as lessons)")
        _check_master(src)
    written = {}
    with ipc_kernels():
        for src in sources:
            written[src.stem] = _assign_one(src, out, run_tests, install_url, log, otter_assign)
    return written


def _assign_one(src: Path, out: Path, run_tests: bool, install_url: str | None, log, otter_assign) -> dict[str, Path]:
    """otter assign for one master notebook (inside ipc_kernels); returns what it wrote."""
    name = src.stem
    with tempfile.TemporaryDirectory(prefix=f"teachkit-assign-{name}-") as tmp:
        buffer = io.StringIO()
        try:
            with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                otter_assign(str(src), str(Path(tmp) / "dist"), no_pdfs=True, no_run_tests=not run_tests)
        except Exception as err:  # otter's messages name the failing question; keep them
            raise ValueError(f"otter assign failed on {src.name}: {type(err).__name__}: {err}\n"
                             f"{buffer.getvalue()[-2000:]}") from err
        dist = Path(tmp) / "dist"
        zips = sorted((dist / "autograder").glob(f"{name}-autograder_*.zip"))
        paths = {"student": out / "student" / f"{name}.ipynb", "autograder": out / "autograder" / f"{name}.zip",
                 "solutions": out / "solutions" / f"{name}.ipynb"}
        for p in paths.values():
            p.parent.mkdir(parents=True, exist_ok=True)
        student = (dist / "student" / f"{name}.ipynb").read_text()
        if install_url:
            student = student.replace(json.dumps(PLACEHOLDER_URL)[1:-1], json.dumps(install_url)[1:-1])
        paths["student"].write_text(student)
        shutil.copyfile(zips[-1], paths["autograder"])
        shutil.copyfile(dist / "autograder" / f"{name}.ipynb", paths["solutions"])
    log(f"{name}: {paths['student'].relative_to(out)}, {paths['autograder'].relative_to(out)}"
        + (" (otter ran every test on the solutions: passed)" if run_tests else ""))
    return paths
