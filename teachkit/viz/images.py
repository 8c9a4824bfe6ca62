"""Image grids: a batch (B, C, H, W) in [-1, 1] tiled into one array and shown on an axes (matplotlib imshow)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.image import AxesImage

from .figures import as_numpy, new_figure

__all__ = ["make_grid", "show_grid"]


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
