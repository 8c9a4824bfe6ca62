"""The image trajectory explorer (MNIST): x_t and x0_hat grids side by side as the frame advances."""
from __future__ import annotations

from dataclasses import dataclass

from matplotlib.image import AxesImage
from matplotlib.text import Text

from .. import viz
from .explorer import TrajectoryExplorerBase
from .frames import Frames

__all__ = ["ImageTrajectoryExplorer"]


@dataclass(frozen=True)
class _GridView:
    x_t: AxesImage
    x0_hat: AxesImage
    title: Text


class ImageTrajectoryExplorer(TrajectoryExplorerBase):
    """Explore an image model's sampling (e.g. MNIST): a grid of x_t beside a grid of x0_hat at each frame."""

    figsize = (7.0, 4.2)

    def __init__(self, model, schedule, *, n: int = 16, nrow: int | None = None, **kwargs) -> None:
        shape = getattr(model, "sample_shape", None)
        if shape is None or len(shape) != 3:
            raise ValueError(f"ImageTrajectoryExplorer needs a model with sample_shape (C, H, W), got {shape}")
        self.nrow = nrow
        kwargs.setdefault("steps", 25)
        super().__init__(model, schedule, n=n, sample_shape=tuple(shape), **kwargs)

    def _make_view(self, fig) -> _GridView:
        ax_x, ax_x0 = fig.subplots(1, 2)
        blank = viz.make_grid(self.x_T.cpu() * 0, self.nrow)
        im_x = ax_x.imshow(blank, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        im_x0 = ax_x0.imshow(blank, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        for ax, name in ((ax_x, "x_t"), (ax_x0, "x0_hat")):
            ax.set_axis_off()
            ax.set_title(name, fontsize="small")
        return _GridView(im_x, im_x0, fig.suptitle(" \n ", fontsize="small"))

    def _draw_frame(self, frames: Frames, k: int, title: str) -> None:
        x, x0_hat = viz.frame_at(frames, k)
        self.view.x_t.set_data(viz.make_grid(x, self.nrow))
        self.view.x0_hat.set_data(viz.make_grid(x0_hat, self.nrow))
        self.view.title.set_text(title)
