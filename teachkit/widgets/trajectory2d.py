"""The 2-D trajectory explorer: particles, faint paths and x0_hat over the reference data."""
from __future__ import annotations

import numpy as np

from .. import viz
from .explorer import TrajectoryExplorerBase
from .frames import Frames

__all__ = ["TrajectoryExplorer2D"]


class TrajectoryExplorer2D(TrajectoryExplorerBase):
    """Explore how a 2-D model's samples travel x_T -> x_0 as the sampler, steps, eta, scale and class change.

    `data` (an (N, 2) array/tensor) is drawn in grey for reference, `density` (X, Y, p) as a shaded
    background (e.g. `teachkit.toy2d.toy_density(name)`); `n` particles share one fixed x_T.
    """

    figsize = (5.0, 5.0)

    def __init__(self, model, schedule, data=None, *, density=None, n: int = 1000, max_paths: int = 64,
                 lim: float | None = None, **kwargs) -> None:
        self.density = density
        self.data = None if data is None else viz.as_numpy(data)
        if self.data is not None and (self.data.ndim != 2 or self.data.shape[1] != 2):
            raise ValueError(f"data must have shape (N, 2), got {self.data.shape}")
        shape = tuple(getattr(model, "sample_shape", (2,)))
        if shape != (2,):
            raise ValueError(f"TrajectoryExplorer2D needs a 2-D model (sample_shape (2,)), got {shape}")
        extent = 3.0 if self.data is None else float(np.abs(self.data).max())
        self.lim = float(lim) if lim is not None else max(3.5, 1.25 * extent)
        self.max_paths = int(max_paths)
        super().__init__(model, schedule, n=n, sample_shape=(2,), **kwargs)

    def _make_view(self, fig) -> viz.ScatterArtists:
        return viz.init_scatter(fig.add_subplot(), self.data, lim=self.lim, density=self.density)

    def _set_trajectory(self, frames: Frames) -> None:
        viz.set_paths(self.view, frames.xs, self.max_paths)
        labels = frames.labels
        colors = "tab:blue" if labels is None else viz.CLASS_COLORS[labels % len(viz.CLASS_COLORS)]
        self.view.particles.set_color(colors)

    def _draw_frame(self, frames: Frames, k: int, title: str) -> None:
        viz.set_scatter_frame(self.view, frames, k, title=title)
