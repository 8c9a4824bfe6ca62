"""Euler on the probability-flow ODE in sigma: the DDIM update read as an ODE step (Song et al. 2021; Karras et al. 2022, Sec. 3).

With sigma = sqrt((1 - alpha_bar) / alpha_bar) and the scaled state x_bar = x / sqrt(alpha_bar), the
probability-flow ODE of a variance-preserving diffusion is d x_bar / d sigma = eps(x, t) (EDM Eq. 1 with
s(t) = sqrt(alpha_bar), Table 1's "VP" row). One Euler step of it is exactly DDIM with eta = 0 (DDIM
Eq. 12 divided by sqrt(alpha_bar_prev)): the same first-order solver, written the ODE way.
"""
from __future__ import annotations

import math

import torch

from ..schedules import NoiseSchedule, timesteps
from .core import Recorder, Trajectory, check_inputs
from .prediction import Denoiser, eval_mode

__all__ = ["euler_sample", "sigma_of"]


def sigma_of(alpha_bar: float) -> float:
    """EDM's noise level of a VP timestep: sigma = sqrt((1 - alpha_bar) / alpha_bar) (0 at "clean", alpha_bar = 1)."""
    return math.sqrt((1.0 - alpha_bar) / alpha_bar)


@torch.no_grad()
def euler_sample(model, schedule: NoiseSchedule, x_T: torch.Tensor, steps: int = 50, *, spacing: str = "trailing",
                 y=None, guidance_scale: float = 1.0, generator: torch.Generator | None = None, record: bool = True,
                 progress: bool = False, callback=None) -> Trajectory:
    """Euler steps of the probability-flow ODE over `steps` timesteps of `spacing`; equals ddim_sample(eta=0) to rounding.

    Deterministic: `generator` is accepted for a uniform signature and not used.
    """
    check_inputs(model, schedule, x_T, guidance_scale)
    ts = timesteps(schedule.T, steps, spacing).tolist()
    den = Denoiser(model, schedule, x_T, y=y, guidance_scale=guidance_scale, sampler="euler_sample")
    rec = Recorder(x_T, ts, record=record, progress=progress, callback=callback, name="Euler")
    alpha_bar, x = den.alpha_bar, x_T
    with eval_mode(model):
        for i, t, prev in rec.pairs():
            ab_t = alpha_bar[t]
            ab_prev = 1.0 if prev == -1 else alpha_bar[prev]
            # 1. the ODE's slope: d x_bar / d sigma = eps (EDM Eq. 1, VP row of Table 1)
            pred = den(x, t)
            # 2. scaled state x_bar = x / sqrt(alpha_bar_t)
            x_bar = x / math.sqrt(ab_t)
            # 3. Euler step in sigma: x_bar_prev = x_bar + (sigma_prev - sigma_t) eps
            x_bar = x_bar + (sigma_of(ab_prev) - sigma_of(ab_t)) * pred.eps
            # 4. back to x: x_prev = sqrt(alpha_bar_prev) x_bar_prev
            x = math.sqrt(ab_prev) * x_bar
            rec.step(i, t, x, pred.x0_hat)
    return rec.trajectory(x, den.nfe)
