"""Noise-schedule curves: beta_t, alpha_bar_t and SNR(t) of named NoiseSchedules side by side (matplotlib)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.axes import Axes

from .figures import as_numpy, new_figure

__all__ = ["plot_schedules"]


def plot_schedules(schedules: dict, axes: Sequence[Axes] | None = None) -> Sequence[Axes]:
    """Plot beta_t, alpha_bar_t and SNR(t) (log scale) of named NoiseSchedules on three axes (DDPM Sec. 2)."""
    if not schedules:
        raise ValueError("plot_schedules needs at least one schedule, e.g. {'linear': linear_schedule()}")
    if axes is None:
        axes = new_figure((10.0, 3.0)).subplots(1, 3)
    for name, s in schedules.items():
        t = np.arange(s.T)
        axes[0].plot(t, as_numpy(s.betas), label=name)
        axes[1].plot(t, as_numpy(s.alpha_bar), label=name)
        axes[2].plot(t, as_numpy(s.snr()), label=name)
    for ax, label in zip(axes, ["beta_t", "alpha_bar_t", "SNR(t)"]):
        ax.set_xlabel("t")
        ax.set_title(label)
    axes[2].set_yscale("log")
    axes[0].legend(fontsize="small")
    return axes
