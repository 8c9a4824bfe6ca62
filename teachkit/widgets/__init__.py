"""The lessons' widgets, drawn in the browser (anywidget + canvas); callbacks only call public teachkit functions (no math here).

Where things live:

* the widgets a lesson shows: trajectory2d.py (TrajectoryExplorer2D), images.py (ImageTrajectoryExplorer),
  schedule.py (ScheduleExplorer), guidance.py (GuidanceSweep), perceptual.py (PerceptualStudy);
* the explorers' base class: explorer_base.py (TrajectoryExplorerBase: the controls), with controls.py
  (what a setting is, in plain functions) and export.py (the static figure and the JS/GIF player);
* the sampler menu: menu.py (default_samplers, student_sampler: entries of teachkit.samplers.SAMPLERS);
* the plumbing under them: canvas.py (CanvasWidget, the anywidget base with its static PNG fallback),
  sampled.py (SampledWidget: cached, streamed, prefetched, cancellable re-sampling), runner.py (the
  sampling threads), cache.py (BoundedCache), frames.py (Frames, a trajectory as numpy);
* static/: the browser side (widgets.js, widgets.css).
"""
from .cache import BoundedCache
from .frames import Frames
from .guidance import GuidanceSweep
from .images import ImageTrajectoryExplorer
from .menu import default_samplers, student_sampler
from .perceptual import PerceptualStudy
from .schedule import ScheduleExplorer
from .trajectory2d import TrajectoryExplorer2D

__all__ = [
    "TrajectoryExplorer2D", "ImageTrajectoryExplorer", "ScheduleExplorer", "GuidanceSweep", "Frames", "default_samplers",
    "student_sampler", "BoundedCache", "PerceptualStudy",
]
