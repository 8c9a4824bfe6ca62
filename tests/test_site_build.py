"""The site build's parts, without a browser or a kernel: math, links, widget outputs, a page."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from teachkit.website import build_site, check_site
from teachkit.website.build import WIDGET_VIEW, _Links, site_notebook
from teachkit.website.exporter import mathml
from teachkit.website.players import PLAYER_KEY, explorer_cells

ROOT = Path(__file__).resolve().parent.parent
STEMS = ["00_start_here", "01_noise_schedules"]


def test_math_becomes_mathml():
    out = mathml(r"\bar\alpha_t = \prod_{s=1}^{t} (1 - \beta_s)", display="block")
    assert out.startswith("<math") and 'display="block"' in out and "<munderover>" in out and "\\" not in out


def test_math_latex2mathml_cannot_draw_is_a_build_error():
    with pytest.raises(ValueError, match=r"does not know \\alphaa"):
        mathml(r"\alphaa + 1")


def test_links_point_at_pages(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "RESULTS.md").write_text("# results\n")
    links = _Links(tmp_path, STEMS)
    text = links.rewrite("see `01_noise_schedules`, [next](01_noise_schedules.ipynb#sec), "
                         "[numbers](../benchmarks/RESULTS.md), [web](https://example.org) and `99_other`", "x")
    assert "[`01_noise_schedules`](01_noise_schedules.html)" in text
    assert "(01_noise_schedules.html#sec)" in text and "(pages/benchmarks/RESULTS.html)" in text
    assert "(https://example.org)" in text and "`99_other`" in text and "99_other.html" not in text
    assert links.pages == {tmp_path / "benchmarks" / "RESULTS.md"}
    with pytest.raises(ValueError, match="has no page on the site"):
        links.rewrite("[a picture](figure.png)", "lesson 01 cell 3")


def _output(data: dict, kind: str = "display_data") -> nbformat.NotebookNode:
    out = {"output_type": kind, "data": data, "metadata": {}}
    if kind == "execute_result":
        out["execution_count"] = 1
    return nbformat.from_dict(out)


def test_widget_outputs_become_players_or_static_figures():
    view = {"model_id": "abc", "version_major": 2, "version_minor": 0}
    explorer = _output({WIDGET_VIEW: view, "image/png": "iVBO", "text/plain": "TrajectoryExplorer2D(children=(...))"},
                       "execute_result")
    progress = _output({WIDGET_VIEW: view, "text/plain": "train:   0%|          | 0/2500"})
    canvas = _output({WIDGET_VIEW: view, "image/png": "iVBO", "text/plain": "Canvas(toolbar=...)"})
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[progress, canvas]),
                                         nbformat.v4.new_code_cell("explorer", outputs=[explorer])])
    classes = ["TrajectoryExplorer2D"]
    assert explorer_cells(nb, classes) == [1]
    player = _output({"text/html": "<div class='animation'></div>"}, "execute_result")
    player.metadata[PLAYER_KEY] = "TrajectoryExplorer2D"
    page = site_notebook(nb, {1: [player]}, _Links(ROOT, STEMS), "test", classes)
    first, second = page.cells[0].outputs, page.cells[1].outputs
    assert len(first) == 1 and set(first[0].data) == {"image/png", "text/plain"}  # progress bar dropped
    assert [o.data["text/html"] for o in second] == ["<div class='animation'></div>"]
    assert WIDGET_VIEW in nb.cells[0].outputs[0].data, "the stored notebook must stay untouched"


def test_pages_without_players(tmp_path):
    out = tmp_path / "site"
    pages = build_site(out, root=ROOT, players=False, only=STEMS, log=lambda *a: None)
    assert [p.name for p in pages] == [f"{s}.html" for s in STEMS]
    first = pages[0].read_text()
    assert 'href="01_noise_schedules.html"' in first and "<math" in pages[1].read_text()
    assert "cdnjs" not in first and "require.js" not in first and WIDGET_VIEW not in first
    check_site(out)
    (out / "01_noise_schedules.html").unlink()
    with pytest.raises(ValueError, match="points to no file"):
        check_site(out)
