"""2-D trajectories as scatter plots: the particles x_t, their x0_hat, faint paths and the reference data (matplotlib).

The artists are made once (init_scatter) and moved frame by frame (set_scatter_frame), as the widgets'
static figures and players need.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.text import Text

from .figures import as_numpy, new_figure

__all__ = ["frame_at", "ScatterArtists", "init_scatter", "set_paths", "set_scatter_frame", "plot_trajectory_2d"]


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
