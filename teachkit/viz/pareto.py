"""Pareto fronts of quality against cost (e.g. network evaluations): the front, per-sampler curves, labels that do not overlap."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.text import Text

from .figures import new_figure

__all__ = ["pareto_front", "plot_pareto"]


def pareto_front(cost, quality, higher_is_better: bool = True) -> np.ndarray:
    """Boolean mask of the points no other point beats in both cost (lower is better) and quality."""
    c, q = np.asarray(cost, float), np.asarray(quality, float)
    if c.shape != q.shape or c.ndim != 1:
        raise ValueError(f"cost and quality must be 1-D of equal length, got {c.shape} and {q.shape}")
    q = q if higher_is_better else -q
    better_eq = (c[None, :] <= c[:, None]) & (q[None, :] >= q[:, None])
    strictly = (c[None, :] < c[:, None]) | (q[None, :] > q[:, None])
    return ~(better_eq & strictly).any(axis=1)


# label offsets in points: 8 directions around the point, nearest first, then further out
_LABEL_OFFSETS = [(r * dx, r * dy, ha, va) for r in (5, 11, 19, 29, 42, 58) for dx, dy, ha, va in (
    (1, 0.6, "left", "bottom"), (1, -0.6, "left", "top"), (-1, 0.6, "right", "bottom"), (-1, -0.6, "right", "top"),
    (0, 1, "center", "bottom"), (0, -1, "center", "top"), (1, 0, "left", "center"), (-1, 0, "right", "center"))]


class _LabelPlacer(Artist):
    """Moves point labels, at draw time (once the layout is final), to the nearest offset that stays inside the
    axes and overlaps no placed label, no point and no sample of the given lines (else the least crowded one)."""

    def __init__(self, ax: Axes, texts: list, points: np.ndarray, lines: list):
        super().__init__()
        self.ax, self.texts, self.points, self.lines = ax, texts, points, lines
        self.set_zorder(-100)  # drawn before the texts it moves

    def draw(self, renderer) -> None:
        px = renderer.points_to_pixels(1.0)
        pts = self.ax.transData.transform(self.points)
        curve = np.concatenate([self._samples(line, 3 * px) for line in self.lines] + [np.zeros((0, 2))])
        frame, placed = self.ax.get_window_extent(renderer), []
        for text in self.texts:
            best = None
            for dx, dy, ha, va in _LABEL_OFFSETS:
                text.xyann = (dx, dy)
                text.set(ha=ha, va=va)
                text.update_positions(renderer)
                bb = Text.get_window_extent(text, renderer).padded(1.5 * px)  # the text, not its leader line
                outside = bb.x0 < frame.x0 or bb.y0 < frame.y0 or bb.x1 > frame.x1 or bb.y1 > frame.y1
                crowd = (1e4 * outside + 1e3 * sum(bb.overlaps(o) for o in placed)
                         + 20 * self._hits(bb, pts, 3 * px) + self._hits(bb, curve, 0.5 * px))
                if best is None or crowd < best[0]:
                    best = (crowd, (dx, dy), dict(ha=ha, va=va), bb)
                if crowd == 0:
                    break
            text.xyann = best[1]
            text.set(**best[2])
            text.arrow_patch.set_visible(np.hypot(*best[1]) > 12)  # a leader line to a label set further out
            placed.append(best[3])

    def _samples(self, line, step: float) -> np.ndarray:
        xy = self.ax.transData.transform(np.column_stack(line.get_data()).astype(float))
        parts = [np.linspace(a, b, 2 + int(np.hypot(*(b - a)) // step)) for a, b in zip(xy[:-1], xy[1:])]
        return np.concatenate(parts) if parts else xy

    @staticmethod
    def _hits(bb, xy: np.ndarray, radius: float) -> int:
        return int(((xy[:, 0] > bb.x0 - radius) & (xy[:, 0] < bb.x1 + radius)
                    & (xy[:, 1] > bb.y0 - radius) & (xy[:, 1] < bb.y1 + radius)).sum())


def plot_pareto(cost, quality, labels: Sequence[str] | None = None, ax: Axes | None = None,
                higher_is_better: bool = True, xlabel: str = "NFE", ylabel: str = "quality",
                groups: Sequence[str] | None = None, markers: dict | None = None,
                label_points: str = "all") -> Axes:
    """Scatter (cost, quality) points, join the Pareto-optimal ones, and label the points without overlaps.

    `groups` (e.g. the sampler of each point) draws each group's curve in its own colour, with the group in
    the legend; points on the front are full colour, points off it the same colour faded. `label_points`
    is "all" or "front" (label only the Pareto-optimal points). Labels are placed when the figure is drawn.
    """
    if label_points not in ("all", "front"):
        raise ValueError(f"label_points={label_points!r}: choose 'all' or 'front'")
    ax = ax or new_figure((5.0, 3.5)).subplots()
    c, q = np.asarray(cost, float), np.asarray(quality, float)
    mask = pareto_front(c, q, higher_is_better)
    for name, seq in (("labels", labels), ("groups", groups)):
        if seq is not None and len(seq) != len(c):
            raise ValueError(f"{name} has {len(seq)} entries for {len(c)} points")
    names = list(dict.fromkeys(groups)) if groups is not None else [None]
    member = np.asarray(groups, dtype=object) if groups is not None else np.full(len(c), None, dtype=object)
    for k, name in enumerate(names):
        g, colour, marker = member == name, f"C{k}", (markers or {}).get(name, "o")
        order = np.argsort(c[g])
        if name is not None:
            ax.plot(c[g][order], q[g][order], "-", color=colour, lw=0.8, alpha=0.45, zorder=2)
            ax.plot([], [], "-", color=colour, marker=marker, lw=0.8, label=name)  # the legend entry
        size = 1.8 if marker == "*" else 1.0  # a star's area looks smaller than a square's
        ax.scatter(c[g & ~mask], q[g & ~mask], color=colour, marker=marker, alpha=0.3, s=30 * size, lw=0, zorder=3)
        ax.scatter(c[g & mask], q[g & mask], color=colour, marker=marker, s=40 * size, edgecolors="k", lw=0.6,
                   zorder=4)
    order = np.argsort(c[mask])
    front, = ax.plot(c[mask][order], q[mask][order], "-", color="0.15", lw=1.4, zorder=2.5, label="Pareto front")
    if (~mask).any():
        ax.scatter([], [], color="0.3", alpha=0.3, s=30, lw=0, label="faded: off the front")
    shown = [i for i in range(len(labels or [])) if label_points == "all" or mask[i]]
    texts = [ax.annotate(labels[i], (c[i], q[i]), textcoords="offset points", xytext=(5, 3), fontsize="x-small",
                         arrowprops=dict(arrowstyle="-", lw=0.5, color="0.5", shrinkA=1, shrinkB=3), zorder=5)
             for i in shown]
    if texts:
        ax.add_artist(_LabelPlacer(ax, texts, np.column_stack([c, q]), [front]))
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    return ax
