"""The 2-D trajectory explorer: particles, faint paths and x0_hat over the reference data, drawn in the browser."""
from __future__ import annotations

import numpy as np
import traitlets as T

from .. import viz
from .canvas import f16
from .explorer_base import TrajectoryExplorerBase
from .frames import Frames

__all__ = ["TrajectoryExplorer2D"]


class TrajectoryExplorer2D(TrajectoryExplorerBase):
    """Explore how a 2-D model's samples travel x_T -> x_0 as the sampler, steps, eta, scale and class change.

    `data` (an (N, 2) array/tensor) is drawn in grey for reference, `density` (X, Y, p) as a shaded
    background (e.g. `teachkit.datasets.toy_density(name)`); `n` particles share one fixed x_T.

    Defaults: n=1000 particles, DDIM 50 steps, scale 3, mixed classes, the first 64 paths drawn; the
    kernel's torch threads as set (teachkit.setup / TEACHKIT_THREADS). The browser draws every frame,
    the frame slider and Play never call the kernel; a re-sample streams its steps as it runs, a newer
    change cancels it, and while idle the neighbouring scale and step values are prefetched.
    """

    figsize = (5.0, 5.0)

    lim = T.Float(4.0).tag(sync=True)
    max_paths = T.Int(64).tag(sync=True)
    reference = T.Bytes(b"").tag(sync=True)  # float16 (M, 2)
    density = T.Bytes(b"").tag(sync=True)  # uint8 (H, W) grey levels, row 0 at the bottom
    density_shape = T.List(T.Int()).tag(sync=True)
    density_extent = T.List(T.Float()).tag(sync=True)  # x0, x1, y0, y1

    def __init__(self, model, schedule, data=None, *, density=None, n: int = 1000, max_paths: int = 64,
                 lim: float | None = None, **kwargs) -> None:
        self.density_grid = density
        self.data = None if data is None else viz.as_numpy(data)
        if self.data is not None and (self.data.ndim != 2 or self.data.shape[1] != 2):
            raise ValueError(f"data must have shape (N, 2), got {self.data.shape}")
        shape = tuple(getattr(model, "sample_shape", (2,)))
        if shape != (2,):
            raise ValueError(f"TrajectoryExplorer2D needs a 2-D model (sample_shape (2,)), got {shape}")
        extent = 3.0 if self.data is None else float(np.abs(self.data).max())
        traits = {"kind": "trajectory2d", "lim": float(lim) if lim is not None else max(3.5, 1.25 * extent),
                  "max_paths": int(max_paths)}
        if self.data is not None:
            traits["reference"] = f16(self.data)
        if density is not None:
            X, Y, p = (np.asarray(a, dtype=np.float64) for a in density)
            grey = np.rint(255.0 * p / max(float(p.max()), 1e-12)).astype(np.uint8)
            traits.update(density=grey.tobytes(), density_shape=list(grey.shape),
                          density_extent=[float(X.min()), float(X.max()), float(Y.min()), float(Y.max())])
        super().__init__(model, schedule, n=n, sample_shape=(2,), **traits, **kwargs)

    def _encode(self, frames: Frames) -> dict:
        labels = np.full(self.n, 255, np.uint8) if frames.labels is None else frames.labels.astype(np.uint8)
        return {"shape": list(frames.xs.shape), "xs": f16(frames.xs), "x0_hats": f16(frames.x0_hats),
                "labels": labels.tobytes()}

    def _partial(self, x, x0_hat) -> list[bytes]:
        return [f16(viz.as_numpy(x)), b"" if x0_hat is None else f16(viz.as_numpy(x0_hat))]

    # ---- static figure (matplotlib) -----------------------------------------------------------
    def _make_view(self, fig) -> viz.ScatterArtists:
        return viz.init_scatter(fig.add_subplot(), self.data, lim=self.lim, density=self.density_grid)

    def _set_trajectory(self, view, frames: Frames) -> None:
        viz.set_paths(view, frames.xs, self.max_paths)
        labels = frames.labels
        colors = "tab:blue" if labels is None else viz.CLASS_COLORS[labels % len(viz.CLASS_COLORS)]
        view.particles.set_color(colors)

    def _draw_frame(self, view, frames: Frames, k: int, title: str) -> None:
        viz.set_scatter_frame(view, frames, k, title=title)
