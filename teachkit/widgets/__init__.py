"""The lessons' widgets, drawn in the browser (anywidget + canvas); callbacks only call public teachkit functions (no math here)."""
from .cache import BoundedCache
from .frames import Frames, default_samplers, student_sampler
from .guidance import GuidanceSweep
from .images import ImageTrajectoryExplorer
from .perceptual import PerceptualStudy
from .schedule import ScheduleExplorer
from .trajectory2d import TrajectoryExplorer2D

__all__ = [
    "TrajectoryExplorer2D", "ImageTrajectoryExplorer", "ScheduleExplorer", "GuidanceSweep", "Frames", "default_samplers",
    "student_sampler", "BoundedCache", "PerceptualStudy",
]
