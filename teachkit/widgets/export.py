"""An explorer's pictures drawn in the kernel: the static figure nbval and nbconvert store, and the player to_animation exports.

matplotlib draws them (a Figure without pyplot, matplotlib.animation for the player) through the
explorer's view hooks (_make_view, _set_trajectory, _draw_frame), the same views for both.
"""
from __future__ import annotations

import matplotlib
import numpy as np

from .. import viz

__all__ = ["frame_title", "explorer_figure", "explorer_animation"]


def frame_title(title: str, frames, k: int) -> str:
    """The figure's title at frame k: the setting's title, then 'frame k/S (t=...)' or '(clean)'."""
    t = f"t={frames.timesteps[k]}" if k < frames.steps else "clean"
    return f"{title}\nframe {k}/{frames.steps} ({t})"


def _view(explorer):
    fig = viz.new_figure(explorer.figsize, dpi=72)
    view = explorer._make_view(fig)
    viz.freeze_layout(fig)
    return fig, view


def explorer_figure(explorer):
    """The frame on screen (`explorer.frame`) as a matplotlib figure."""
    fig, view = _view(explorer)
    frames = explorer.frames
    if frames is not None:
        explorer._set_trajectory(view, frames)
        k = int(np.clip(explorer.frame, 0, frames.steps))
        explorer._draw_frame(view, frames, k, frame_title(explorer.title, frames, k))
    return fig


def explorer_animation(explorer, path: str | None = None, max_frames: int = 30, interval: int = 150):
    """The current trajectory as HTML (a JS player) to display, or written to a .gif/.html file (returns the path)."""
    from IPython.display import HTML

    frames = explorer.frames
    if frames is None:
        raise ValueError("no trajectory to export: the last re-sample failed (see the widget's error)")
    fig, view = _view(explorer)
    explorer._set_trajectory(view, frames)
    anim = viz.animate(fig, lambda k: explorer._draw_frame(view, frames, k, frame_title(explorer.title, frames, k)),
                       frames.steps + 1, max_frames, interval)
    if path is None or str(path).endswith(".html"):
        with matplotlib.rc_context({"animation.frame_format": "jpeg"}):  # ~3x smaller than PNG
            page = viz.animation_html(anim)
        if path is None:
            return HTML(page)
        with open(path, "w") as fh:
            fh.write(page)
    else:
        anim.save(path, writer="pillow", fps=max(1, 1000 // interval))
    return path
