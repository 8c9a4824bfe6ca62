"""The lessons' figures show what their text reads off them (issue 15 item 7): Pareto points coloured by
sampler with non-overlapping labels, grid rows labelled, and the lesson cells that draw them."""
import itertools
import json
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgba
from matplotlib.text import Text

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402

from teachkit import viz  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


# lesson 06's MNIST runs (sampler, NFE, saturation) as its stored table printed them: the crowded case
MNIST_SATURATION = [
    ("DDPM", 10, 0.0006), ("DDPM", 20, 0.0002), ("DDPM", 40, 0.0001), ("DDIM", 10, 0.0666), ("DDIM", 20, 0.0204),
    ("DDIM", 40, 0.0085), ("DPM", 6, 0.1144), ("DPM", 10, 0.0096), ("DPM", 20, 0.0045), ("DPM", 40, 0.0041),
    ("Heun", 6, 0.9912), ("Heun", 10, 0.9452), ("Heun", 18, 0.3748), ("Heun", 38, 0.0023),
    ("Distilled", 1, 0.0696), ("Distilled", 2, 0.0522), ("Distilled", 4, 0.0187), ("Distilled", 8, 0.0100),
    ("Distilled", 20, 0.0028),
]


def _mnist_pareto(**kwargs):
    fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    groups, nfe, sat = zip(*MNIST_SATURATION)
    viz.plot_pareto(nfe, sat, labels=[f"{g}-{n}" for g, n, _ in MNIST_SATURATION], groups=groups, ax=ax,
                    higher_is_better=False, **kwargs)
    return fig, ax, np.array(nfe, float), np.array(sat, float), groups


def test_plot_pareto_colours_off_front_points_by_their_group_faded():
    fig, ax, nfe, sat, groups = _mnist_pareto()
    front = viz.pareto_front(nfe, sat, higher_is_better=False)
    legend = {t.get_text(): h for t, h in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles)}
    seen = 0
    for coll in ax.collections:
        offsets = coll.get_offsets()
        if len(offsets) == 0:
            continue
        for (x, y), rgba in zip(offsets, np.broadcast_to(coll.get_facecolors(), (len(offsets), 4))):
            i = int(np.flatnonzero((nfe == x) & (sat == y))[0])
            # every point has its group's legend colour; off the front it is faded, on it opaque
            assert np.allclose(rgba[:3], to_rgba(legend[groups[i]].get_color())[:3])
            assert (rgba[3] < 0.5) == (not front[i])
            seen += 1
    assert seen == len(nfe)
    assert "Pareto front" in legend and "faded: off the front" in legend


def test_plot_pareto_labels_do_not_overlap_once_drawn():
    fig, ax, nfe, sat, _ = _mnist_pareto()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [Text.get_window_extent(t, renderer) for t in ax.texts]  # the words, not the leader lines
    assert len(boxes) == len(nfe)  # label_points="all": every point
    frame = ax.get_window_extent(renderer)
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), "two Pareto labels overlap"
    for bb in boxes:
        assert frame.x0 <= bb.x0 and bb.x1 <= frame.x1 and frame.y0 <= bb.y0 and bb.y1 <= frame.y1
    plt.close(fig)


def test_plot_pareto_front_only_labels_and_teaching_errors():
    fig, ax, nfe, sat, _ = _mnist_pareto(label_points="front")
    front = viz.pareto_front(nfe, sat, higher_is_better=False)
    assert len(ax.texts) == int(front.sum())
    with pytest.raises(ValueError, match="label_points"):
        viz.plot_pareto([1, 2], [1.0, 2.0], label_points="some")
    with pytest.raises(ValueError, match="groups has 1 entries for 2 points"):
        viz.plot_pareto([1, 2], [1.0, 2.0], groups=["a"])
    plt.close("all")


def test_show_grid_row_labels_are_visible():
    fig, ax = plt.subplots(figsize=(4, 2))
    viz.show_grid(torch.zeros(20, 1, 28, 28), ax=ax, nrow=10, row_labels=["scale 1", "scale 3"])
    fig.canvas.draw()
    assert ax.axison and ax.yaxis.get_visible()
    labels = [t for t in ax.get_yticklabels() if t.get_text()]
    assert [t.get_text() for t in labels] == ["scale 1", "scale 3"] and all(t.get_visible() for t in labels)
    # each label sits beside its own row: row r spans 1 + r * 29 .. + 28 pixels
    assert [round(float(v), 1) for v in ax.get_yticks()] == [14.5, 43.5]
    with pytest.raises(ValueError, match="row_labels has 1 labels for a grid of 2 rows"):
        viz.show_grid(torch.zeros(20, 1, 28, 28), nrow=10, row_labels=["only one"])
    plt.close("all")


def test_lesson00_map_lists_every_exercise():
    """Lesson 00's exercise table names every exercise in notebooks/exercises/ (it once stopped at ex03)."""
    start = json.loads((NOTEBOOKS / "00_start_here.ipynb").read_text())
    text = "\n".join("".join(c["source"]) for c in start["cells"] if c["cell_type"] == "markdown")
    exercises = sorted(p.stem for p in (NOTEBOOKS / "exercises").glob("ex*.ipynb"))
    assert len(exercises) >= 7
    missing = [e for e in exercises if f"| `{e}` |" not in text]
    assert not missing, f"add {missing} to lesson 00's exercise table"


def _code(nb: str) -> list[str]:
    cells = json.loads((NOTEBOOKS / nb).read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def test_lesson05_digit_grid_labels_its_rows_by_scale():
    """05's digits-by-scale grid had no row labels (show_grid once hid the set_ylabel calls)."""
    cells = [s for s in _code("05_classifier_free_guidance.ipynb") if "grid_scales" in s and "show_grid" in s]
    assert cells, "lesson 05's digits-by-scale grid cell is gone"
    assert all('row_labels=[f"scale {s:g}"' in s for s in cells)


def test_lesson06_pareto_plots_colour_by_sampler_and_label_the_front():
    """06's Pareto plots drew off-front points grey beside coloured legend entries, with overlapping labels."""
    cells = [s for s in _code("06_fast_samplers.ipynb") if "plot_pareto(" in s]
    assert len(cells) == 2
    assert all("groups=" in s and 'label_points="front"' in s and "ax.annotate" not in s for s in cells)


LONG_CELLS = [  # (lesson, what shows the bar): cells a student would otherwise watch for a minute with only [*]
    ("01_noise_schedules.ipynb", "tqdm(ts_acc"),
    ("03_ddpm_mnist.ipynb", "progress=True"),
    ("04_ddim.ipynb", "progress=True"),
    ("04_ddim.ipynb", "tqdm(runs"),
    ("05_classifier_free_guidance.ipynb", "tqdm(SCALES"),
]


@pytest.mark.parametrize("nb, call", LONG_CELLS, ids=[f"{nb[:2]}-{call}" for nb, call in LONG_CELLS])
def test_long_lesson_cells_show_progress(nb, call):
    assert any(call in s for s in _code(nb))
    # and the stored run shows the bar as a widget (or stderr), never in a cell whose output nbval checks
    cells = json.loads((NOTEBOOKS / nb).read_text())["cells"]
    for c in cells:
        if c["cell_type"] == "code" and call in "".join(c["source"]):
            assert not "".join(c["source"]).startswith("# NBVAL_CHECK_OUTPUT")
            kinds = {o["output_type"] for o in c["outputs"]}
            assert kinds & {"display_data", "stream"}, "re-execute the lesson: no progress bar stored"
