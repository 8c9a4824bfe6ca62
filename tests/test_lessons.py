"""The lessons as files: listed where a student looks for them, and stored as a clean top-to-bottom run (README.md, "Adding or changing a lesson")."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_lessons_found():
    assert [p.name[:2] for p in LESSONS] == [f"{i:02d}" for i in range(len(LESSONS))], "lessons are numbered 00, 01, ..."


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_is_listed(path):
    readme = (ROOT / "README.md").read_text()
    assert f"`notebooks/{path.name}`" in readme, f"add {path.name} to README.md's lesson table"
    start = nbformat.read(ROOT / "notebooks" / "00_start_here.ipynb", as_version=4)
    lesson_map = "\n".join(c.source for c in start.cells if c.cell_type == "markdown")
    assert f"`{path.stem}`" in lesson_map, f"add {path.stem} to the map in 00_start_here"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_conventions(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source.startswith(("%matplotlib inline", "%matplotlib widget")), "first cell picks the matplotlib backend"
    assert "import teachkit" in code[0].source and "teachkit.setup(" in code[0].source
    assert any(c.source.startswith("# NBVAL_CHECK_OUTPUT") for c in code), "nbval checks the cells that teach numbers"
    # stored outputs come from one clean run, top to bottom (python -m teachkit notebooks --execute)
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "re-execute from a clean kernel"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"stored outputs contain errors: {[e.ename for e in errors]}"
