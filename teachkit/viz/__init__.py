"""Static plots for the lessons and the benchmarks, one family on matplotlib's pyplot-free Figure (no backend set on import).

figures.py: new_figure, freeze_layout, CLASS_COLORS, as_numpy, animate, animation_html;
schedules.py: plot_schedules; images.py: make_grid, show_grid; scatter.py: 2-D trajectories;
pareto.py: pareto_front, plot_pareto; bench_figures.py: the PNGs `python -m teachkit bench` writes.
Import from here (`from teachkit import viz; viz.show_grid(...)`).
"""
from .figures import CLASS_COLORS, animate, animation_html, as_numpy, freeze_layout, new_figure
from .images import make_grid, show_grid
from .pareto import pareto_front, plot_pareto
from .scatter import ScatterArtists, frame_at, init_scatter, plot_trajectory_2d, set_paths, set_scatter_frame
from .schedules import plot_schedules

__all__ = [
    "as_numpy", "new_figure", "freeze_layout", "plot_schedules", "make_grid", "show_grid", "frame_at",
    "ScatterArtists", "init_scatter", "set_paths", "set_scatter_frame", "plot_trajectory_2d",
    "pareto_front", "plot_pareto", "animate", "animation_html", "CLASS_COLORS",
]
