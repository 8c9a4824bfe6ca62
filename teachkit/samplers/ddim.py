"""DDIM: deterministic, non-Markovian sampling with the same trained noise predictor (Song, Meng, Ermon 2020)."""
from __future__ import annotations

import torch

from ..schedules import NoiseSchedule, timesteps
from .core import Recorder, Trajectory, check_eta, check_inputs, check_step_inputs, randn_like, sqrt
from .prediction import Denoiser, eval_mode

__all__ = ["ddim_step", "ddim_sample"]


def ddim_step(x_t: torch.Tensor, eps: torch.Tensor, alpha_bar_t, alpha_bar_prev, eta: float = 0.0,
              noise: torch.Tensor | None = None, clip_x0: float | None = None,
              x0_hat: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One DDIM update from t to prev (DDIM Eq. 12 with sigma_t from Eq. 16); returns (x_prev, x0_hat).

    `x0_hat` may be passed in when the model predicts it directly (a v-model), instead of backing it out of eps.
    """
    check_eta(eta)
    check_step_inputs(x_t, eps, alpha_bar_t, alpha_bar_prev, "ddim_step")
    if x0_hat is None:
        # 1. DDIM Eq. (12), "predicted x_0": x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)
        x0_hat = (x_t - sqrt(1.0 - alpha_bar_t) * eps) / sqrt(alpha_bar_t)
    if clip_x0 is not None:
        x0_hat = x0_hat.clamp(-clip_x0, clip_x0)
    # 2. DDIM Eq. (16): sigma_t = eta sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t)) sqrt(1 - alpha_bar_t / alpha_bar_prev)
    sigma_t = eta * sqrt((1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t)) * sqrt(1.0 - alpha_bar_t / alpha_bar_prev)
    # 3. DDIM Eq. (12), "direction pointing to x_t": sqrt(1 - alpha_bar_prev - sigma_t^2) eps
    dir_x_t = sqrt(1.0 - alpha_bar_prev - sigma_t**2) * eps
    # 4. DDIM Eq. (12): x_prev = sqrt(alpha_bar_prev) x0_hat + direction + sigma_t z  (the same eps used twice)
    x_prev = sqrt(alpha_bar_prev) * x0_hat + dir_x_t
    if eta > 0:
        x_prev = x_prev + sigma_t * (torch.randn_like(x_t) if noise is None else noise)
    return x_prev, x0_hat


@torch.no_grad()
def ddim_sample(model, schedule: NoiseSchedule, x_T: torch.Tensor, steps: int = 50, *,
                eta: float = 0.0, spacing: str = "trailing", y=None, guidance_scale: float = 1.0,
                generator: torch.Generator | None = None, record: bool = True, progress: bool = False,
                callback=None, clip_x0: float | None = None) -> Trajectory:
    """Sample with DDIM over `steps` timesteps of `spacing`; eta=0 is deterministic given x_T (DDIM Sec. 4.1)."""
    check_eta(eta)
    check_inputs(model, schedule, x_T, guidance_scale)
    ts = timesteps(schedule.T, steps, spacing).tolist()
    den = Denoiser(model, schedule, x_T, y=y, guidance_scale=guidance_scale, sampler="ddim_sample")
    rec = Recorder(x_T, ts, record=record, progress=progress, callback=callback, name="DDIM")
    alpha_bar, x = den.alpha_bar, x_T
    with eval_mode(model):
        for i, t, prev in rec.pairs():
            # 1. predict eps and x0_hat at t (guided: one batched pass over the labelled and null halves)
            pred = den(x, t)
            # 2. DDIM Eq. (12) from t to prev (prev = -1 is clean, alpha_bar = 1); fresh noise only when eta > 0
            ab_prev = 1.0 if prev == -1 else alpha_bar[prev]
            noise = randn_like(x, generator) if eta > 0 and ab_prev < 1.0 else None
            x, x0_hat = ddim_step(x, pred.eps, alpha_bar[t], ab_prev, eta=eta, noise=noise, clip_x0=clip_x0,
                                  x0_hat=pred.x0_hat)
            rec.step(i, t, x, x0_hat)
    return rec.trajectory(x, den.nfe)
