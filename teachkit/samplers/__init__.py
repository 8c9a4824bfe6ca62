"""Samplers, one algorithm per file, sharing one signature and returning a Trajectory."""
from .core import Trajectory
from .ddim import ddim_sample, ddim_step
from .ddpm import ddpm_sample, ddpm_step
from .distilled import consistency_step, distilled_sample
from .dpm_solver import dpm_solver_sample

__all__ = ["Trajectory", "ddim_sample", "ddim_step", "ddpm_sample", "ddpm_step", "dpm_solver_sample", "distilled_sample",
           "consistency_step"]
