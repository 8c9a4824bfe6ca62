"""Heun's second-order method on the probability-flow ODE with Karras sigma spacing (Karras et al. 2022, EDM, Algorithm 1).

Same ODE as euler.py: d x_bar / d sigma = eps with x_bar = x / sqrt(alpha_bar) and
sigma = sqrt((1 - alpha_bar) / alpha_bar). Each step takes an Euler step, evaluates the slope again at its
end and averages the two (the trapezoidal rule); the last step, to sigma = 0, is plain Euler, since the
slope there is undefined. NFE = 2 * steps - 1 per sample (twice that with guidance). The timesteps are
`schedules.karras_timesteps` (EDM Eq. 5, rho = 7, rounded to the model's timesteps) unless `spacing`
names one of `schedules.timesteps`' spacings. k-diffusion's `sample_heun` is the peer it is tested against.
"""
from __future__ import annotations

import math

import torch

from ..schedules import NoiseSchedule, karras_timesteps, timesteps
from .core import Recorder, Trajectory, check_inputs
from .euler import sigma_of
from .prediction import Denoiser, eval_mode

__all__ = ["heun_sample"]


@torch.no_grad()
def heun_sample(model, schedule: NoiseSchedule, x_T: torch.Tensor, steps: int = 18, *, spacing: str = "karras",
                rho: float = 7.0, y=None, guidance_scale: float = 1.0, generator: torch.Generator | None = None,
                record: bool = True, progress: bool = False, callback=None) -> Trajectory:
    """EDM Algorithm 1 (deterministic Heun) from x_T at t = T-1 to the clean sample; spacing "karras" (rho) or a timesteps() spacing.

    Deterministic: `generator` is accepted for a uniform signature and not used.
    """
    check_inputs(model, schedule, x_T, guidance_scale)
    if spacing == "karras":
        ts = karras_timesteps(schedule, steps, rho).tolist()
    else:
        ts = timesteps(schedule.T, steps, spacing).tolist()
    den = Denoiser(model, schedule, x_T, y=y, guidance_scale=guidance_scale, sampler="heun_sample")
    rec = Recorder(x_T, ts, record=record, progress=progress, callback=callback, name="Heun")
    alpha_bar, x = den.alpha_bar, x_T
    if alpha_bar[ts[0]] <= 0.0:
        raise ValueError("alpha_bar = 0 at the first timestep (zero terminal SNR): sigma is infinite there")
    with eval_mode(model):
        for i, t, prev in rec.pairs():
            ab_t = alpha_bar[t]
            ab_next = 1.0 if prev == -1 else alpha_bar[prev]
            sigma_t, sigma_next = sigma_of(ab_t), sigma_of(ab_next)
            # 1. EDM Alg. 1, line 4: d_i = (x_i - D(x_i; sigma_i)) / sigma_i, which is eps in x_bar = x / sqrt(alpha_bar)
            pred = den(x, t)
            x_bar = x / math.sqrt(ab_t)
            d = pred.eps
            # 2. EDM Alg. 1, line 5: the Euler step x_{i+1} = x_i + (sigma_{i+1} - sigma_i) d_i
            x_bar_next = x_bar + (sigma_next - sigma_t) * d
            if prev != -1:
                # 3. EDM Alg. 1, lines 6-7: the slope at the Euler step's end, d' = (x_{i+1} - D(x_{i+1}; sigma_{i+1})) / sigma_{i+1}
                d_next = den(math.sqrt(ab_next) * x_bar_next, prev).eps
                # 4. EDM Alg. 1, line 8: x_{i+1} = x_i + (sigma_{i+1} - sigma_i) (d_i / 2 + d' / 2)
                x_bar_next = x_bar + (sigma_next - sigma_t) * (0.5 * d + 0.5 * d_next)
            # 5. back to x: x_{i+1} = sqrt(alpha_bar_{i+1}) x_bar_{i+1}
            x = math.sqrt(ab_next) * x_bar_next
            rec.step(i, t, x, pred.x0_hat)
    return rec.trajectory(x, den.nfe)
