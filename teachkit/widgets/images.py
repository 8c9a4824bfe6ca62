"""The image trajectory explorer (MNIST): x_t and x0_hat grids side by side as the frame advances, drawn in the browser."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import traitlets as T
from matplotlib.image import AxesImage
from matplotlib.text import Text

from .. import viz
from .canvas import u8_images
from .explorer_base import TrajectoryExplorerBase
from .frames import Frames

__all__ = ["ImageTrajectoryExplorer"]


@dataclass(frozen=True)
class _GridView:
    x_t: AxesImage
    x0_hat: AxesImage
    title: Text


class ImageTrajectoryExplorer(TrajectoryExplorerBase):
    """Explore an image model's sampling (e.g. MNIST): a grid of x_t beside a grid of x0_hat at each frame.

    Defaults: n=16 images (nrow=4 per row), DDIM 25 steps, scale 3, mixed classes; frames travel to
    the browser as uint8 grey levels (values in [-1, 1] clipped, as viz.make_grid shows them).
    """

    figsize = (7.0, 4.2)

    nrow = T.Int(4).tag(sync=True)

    def __init__(self, model, schedule, *, n: int = 16, nrow: int | None = None, **kwargs) -> None:
        shape = getattr(model, "sample_shape", None)
        if shape is None or len(shape) != 3:
            raise ValueError(f"ImageTrajectoryExplorer needs a model with sample_shape (C, H, W), got {shape}")
        if shape[0] != 1:
            raise ValueError(f"ImageTrajectoryExplorer draws grey images (C=1), got sample_shape {tuple(shape)}")
        kwargs.setdefault("steps", 25)
        nrow = int(nrow) if nrow else int(np.ceil(np.sqrt(n)))
        super().__init__(model, schedule, n=n, sample_shape=tuple(shape), kind="images", nrow=nrow, **kwargs)

    def _encode(self, frames: Frames) -> dict:
        s1, b, _, h, w = frames.xs.shape
        labels = np.full(self.n, 255, np.uint8) if frames.labels is None else frames.labels.astype(np.uint8)
        return {"shape": [s1, b, h, w], "xs": u8_images(frames.xs), "x0_hats": u8_images(frames.x0_hats),
                "labels": labels.tobytes()}

    def _partial(self, x, x0_hat) -> list[bytes]:
        return [u8_images(viz.as_numpy(x)), b"" if x0_hat is None else u8_images(viz.as_numpy(x0_hat))]

    # ---- static figure (matplotlib) -----------------------------------------------------------
    def _make_view(self, fig) -> _GridView:
        ax_x, ax_x0 = fig.subplots(1, 2)
        blank = viz.make_grid(self.x_T.cpu() * 0, self.nrow)
        im_x = ax_x.imshow(blank, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        im_x0 = ax_x0.imshow(blank, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        for ax, name in ((ax_x, "x_t"), (ax_x0, "x0_hat")):
            ax.set_axis_off()
            ax.set_title(name, fontsize="small")
        return _GridView(im_x, im_x0, fig.suptitle(" \n ", fontsize="small"))

    def _draw_frame(self, view, frames: Frames, k: int, title: str) -> None:
        x, x0_hat = viz.frame_at(frames, k)
        view.x_t.set_data(viz.make_grid(x, self.nrow))
        view.x0_hat.set_data(viz.make_grid(x0_hat, self.nrow))
        view.title.set_text(title)
