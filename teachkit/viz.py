"""Static plots for the lessons: schedule curves, 2-D trajectories, image grids, Pareto fronts, animations."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from matplotlib.animation import FuncAnimation
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.text import Text

__all__ = [
    "as_numpy", "new_figure", "freeze_layout", "plot_schedules", "make_grid", "show_grid", "frame_at",
    "ScatterArtists", "init_scatter", "set_paths", "set_scatter_frame", "plot_trajectory_2d",
    "pareto_front", "plot_pareto", "animate", "animation_html", "CLASS_COLORS",
]

CLASS_COLORS = np.array(
    [[0.12, 0.47, 0.71], [1.0, 0.5, 0.05], [0.17, 0.63, 0.17], [0.84, 0.15, 0.16], [0.58, 0.4, 0.74],
     [0.55, 0.34, 0.29], [0.89, 0.47, 0.76], [0.5, 0.5, 0.5], [0.74, 0.74, 0.13], [0.09, 0.75, 0.81]]
)


def as_numpy(x) -> np.ndarray:
    """A float32 numpy copy of a tensor or array (moved to the CPU)."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float32).numpy()
    return np.asarray(x, dtype=np.float32)


def new_figure(figsize: tuple[float, float] = (6.0, 4.0), dpi: int = 80) -> Figure:
    """A pyplot-free Agg figure: it never shows itself, so callers decide how it is displayed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def freeze_layout(fig: Figure) -> None:
    """Run the constrained layout once, then fix it: per-frame redraws skip the layout solve (about 2x faster)."""
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
        fig.set_layout_engine("none")


def plot_schedules(schedules: dict, axes: Sequence[Axes] | None = None) -> Sequence[Axes]:
    """Plot beta_t, alpha_bar_t and SNR(t) (log scale) of named NoiseSchedules on three axes (DDPM Sec. 2)."""
    if not schedules:
        raise ValueError("plot_schedules needs at least one schedule, e.g. {'linear': linear_schedule()}")
    if axes is None:
        axes = new_figure((10.0, 3.0)).subplots(1, 3)
    for name, s in schedules.items():
        t = np.arange(s.T)
        axes[0].plot(t, as_numpy(s.betas), label=name)
        axes[1].plot(t, as_numpy(s.alpha_bar), label=name)
        axes[2].plot(t, as_numpy(s.snr()), label=name)
    for ax, label in zip(axes, ["beta_t", "alpha_bar_t", "SNR(t)"]):
        ax.set_xlabel("t")
        ax.set_title(label)
    axes[2].set_yscale("log")
    axes[0].legend(fontsize="small")
    return axes


def make_grid(images, nrow: int | None = None, pad: int = 1, value_range=(-1.0, 1.0)) -> np.ndarray:
    """Tile a batch (B, C, H, W) into one (H', W') or (H', W', 3) array scaled to [0, 1]."""
    x = as_numpy(images)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"make_grid expects images of shape (B, 1 or 3, H, W), got {x.shape}")
    b, c, h, w = x.shape
    nrow = nrow or int(np.ceil(np.sqrt(b)))
    ncol_rows = int(np.ceil(b / nrow))
    lo, hi = value_range
    x = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    grid = np.ones((c, ncol_rows * (h + pad) + pad, nrow * (w + pad) + pad), dtype=np.float32)
    for i in range(b):
        r, col = divmod(i, nrow)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = x[i]
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def show_grid(images, ax: Axes | None = None, nrow: int | None = None, title: str | None = None,
              row_labels: Sequence[str] | None = None) -> AxesImage:
    """Show a batch of images (B, C, H, W) in [-1, 1] as one grid; returns the AxesImage for set_data.

    The frame and ticks are hidden but the axis stays on, so `ax.set_ylabel(...)` and `row_labels`
    (one label per grid row, written at its left) are shown.
    """
    ax = ax or new_figure((4.0, 4.0)).subplots()
    grid = make_grid(images, nrow)
    im = ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if row_labels is not None:
        b, h = len(images), images.shape[-2]
        rows = int(np.ceil(b / (nrow or int(np.ceil(np.sqrt(b))))))
        if len(row_labels) != rows:
            raise ValueError(f"row_labels has {len(row_labels)} labels for a grid of {rows} rows")
        # row r spans pixels pad + r (h + pad) .. + h (pad = 1, as make_grid lays it out)
        ax.set_yticks([1 + r * (h + 1) + (h - 1) / 2 for r in range(rows)], labels=list(row_labels), fontsize=9)
        ax.tick_params(axis="y", length=0)
    if title:
        ax.set_title(title)
    return im


def frame_at(traj, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """(x_t, x0_hat) shown at `frame` of a trajectory: frame 0 is x_T, the last frame is the sample itself."""
    n_frames = len(traj.xs)
    if not -n_frames <= frame < n_frames:
        raise ValueError(f"frame={frame} out of range for a trajectory with {n_frames} frames (0 .. {n_frames - 1})")
    frame %= n_frames
    x = as_numpy(traj.xs[frame])
    x0_hat = as_numpy(traj.x0_hats[frame]) if frame < len(traj.x0_hats) else x
    return x, x0_hat


@dataclass(frozen=True)
class ScatterArtists:
    """The matplotlib artists of a 2-D trajectory view, updated in place frame by frame."""

    ax: Axes
    reference: PathCollection
    paths: LineCollection
    x0_hat: PathCollection
    particles: PathCollection
    title: Text


def init_scatter(ax: Axes, data=None, lim: float = 4.0, density=None) -> ScatterArtists:
    """Create the artists of a 2-D trajectory view: density (X, Y, p grid), reference data, paths, x0_hat, particles."""
    if density is not None:
        X, Y, p = (np.asarray(a) for a in density)
        ax.imshow(p, origin="lower", extent=(X.min(), X.max(), Y.min(), Y.max()), cmap="Greys", alpha=0.35,
                  interpolation="bilinear", zorder=0)
    ref = as_numpy(data) if data is not None else np.zeros((0, 2), np.float32)
    reference = ax.scatter(ref[:, 0], ref[:, 1], s=4, c="0.8", linewidths=0, label="data", zorder=1)
    paths = LineCollection([], colors=(0.3, 0.3, 0.6, 0.15), linewidths=0.6, zorder=2)
    ax.add_collection(paths)
    x0_hat = ax.scatter(np.zeros(0), np.zeros(0), s=6, marker="x", c="tab:red", linewidths=0.6,
                        alpha=0.5, label="x0_hat", zorder=3)
    particles = ax.scatter(np.zeros(0), np.zeros(0), s=6, linewidths=0, label="x_t", zorder=4)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize="x-small", markerscale=2)
    # a two-line placeholder title, so a layout computed now leaves room for "sampler ...\nframe ..."
    return ScatterArtists(ax, reference, paths, x0_hat, particles, ax.set_title(" \n ", fontsize="small"))


def set_paths(artists: ScatterArtists, xs, max_paths: int = 64) -> None:
    """Draw faint full paths x_T -> x_0 of the first `max_paths` particles (xs: (S+1, B, 2))."""
    xs = as_numpy(xs)[:, :max_paths]
    artists.paths.set_segments(list(xs.transpose(1, 0, 2)))


def set_scatter_frame(artists: ScatterArtists, traj, frame: int, colors=None, title: str = "") -> None:
    """Move the particles and x0_hat markers to `frame` of a trajectory (set_offsets, no new artists)."""
    x, x0_hat = frame_at(traj, frame)
    artists.particles.set_offsets(x)
    artists.x0_hat.set_offsets(x0_hat)
    if colors is not None:
        artists.particles.set_color(colors)
    artists.title.set_text(title)


def plot_trajectory_2d(traj, frame: int = -1, data=None, ax: Axes | None = None, title: str = "") -> ScatterArtists:
    """A one-off static plot of a 2-D trajectory at one frame, with paths and reference data."""
    ax = ax or new_figure((4.5, 4.5)).subplots()
    artists = init_scatter(ax, data)
    set_paths(artists, traj.xs)
    set_scatter_frame(artists, traj, frame, title=title)
    return artists


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


def animate(fig: Figure, draw_frame: Callable[[int], None], n_frames: int, max_frames: int = 40,
            interval: int = 120) -> FuncAnimation:
    """A FuncAnimation over at most `max_frames` evenly spaced frames (always including the last)."""
    if n_frames < 1:
        raise ValueError("animate needs at least one frame")
    frames = np.unique(np.linspace(0, n_frames - 1, min(n_frames, max_frames)).round().astype(int))
    return FuncAnimation(fig, lambda k: draw_frame(int(k)), frames=frames, interval=interval, blit=False)


def animation_html(anim: FuncAnimation, kind: str = "jshtml") -> str:
    """The animation as self-contained HTML: 'jshtml' (PNG frames + JS player) or 'html5' (needs ffmpeg)."""
    if kind == "jshtml":
        return anim.to_jshtml(default_mode="once")
    if kind == "html5":
        return anim.to_html5_video()
    raise ValueError(f"unknown animation kind {kind!r}; choose 'jshtml' or 'html5' (or save a .gif)")
