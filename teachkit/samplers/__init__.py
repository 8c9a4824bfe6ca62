"""Samplers, one algorithm per file, sharing one keyword set and returning a Trajectory; SAMPLERS is the one registry."""
from .core import Step, Trajectory
from .ddim import ddim_sample, ddim_step
from .ddpm import ddpm_sample, ddpm_step
from .distilled import consistency_step, distilled_sample
from .dpm_solver import dpm_solver_sample
from .euler import euler_sample
from .flow import flow_sample, flow_step
from .heun import heun_sample
from .prediction import Denoiser, Prediction, model_kind, prediction_of
from .registry import SAMPLERS, SamplerSpec, get_sampler, samplers_for, spec_of

__all__ = ["Trajectory", "Step", "ddim_sample", "ddim_step", "ddpm_sample", "ddpm_step", "dpm_solver_sample",
           "distilled_sample", "consistency_step", "euler_sample", "heun_sample", "SAMPLERS", "SamplerSpec",
           "get_sampler", "samplers_for", "spec_of", "Denoiser", "Prediction", "prediction_of", "model_kind", "flow_sample", "flow_step"]
