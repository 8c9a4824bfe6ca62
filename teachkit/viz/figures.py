"""What every teachkit figure shares: a pyplot-free Agg Figure, the class colours, float32 copies, animation.

matplotlib does the drawing; nothing here touches pyplot's state or the backend (matplotlib.use), so a
lesson's `%matplotlib` choice and a script's backend stay theirs. matplotlib.animation makes the players.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure

__all__ = ["CLASS_COLORS", "as_numpy", "new_figure", "freeze_layout", "animate", "animation_html"]

CLASS_COLORS = np.array(
    [[0.12, 0.47, 0.71], [1.0, 0.5, 0.05], [0.17, 0.63, 0.17], [0.84, 0.15, 0.16], [0.58, 0.4, 0.74],
     [0.55, 0.34, 0.29], [0.89, 0.47, 0.76], [0.5, 0.5, 0.5], [0.74, 0.74, 0.13], [0.09, 0.75, 0.81]]
)


def as_numpy(x) -> np.ndarray:
    """A float32 numpy copy of a tensor or array (moved to the CPU)."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float32).numpy()
    return np.asarray(x, dtype=np.float32)


def new_figure(figsize: tuple[float, float] = (6.0, 4.0), dpi: int = 80, layout: str | None = "constrained") -> Figure:
    """A pyplot-free Agg figure: it never shows itself, so callers decide how it is displayed (layout: Figure's)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=figsize, dpi=dpi, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def freeze_layout(fig: Figure) -> None:
    """Run the constrained layout once, then fix it: per-frame redraws skip the layout solve (about 2x faster)."""
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
        fig.set_layout_engine("none")


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
