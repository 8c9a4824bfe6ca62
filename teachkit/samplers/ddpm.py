"""DDPM ancestral sampling: a Markov chain of stochastic posterior steps (Ho, Jain, Abbeel 2020)."""
from __future__ import annotations

import torch

from ..schedules import NoiseSchedule, timesteps
from .core import Recorder, Trajectory, check_inputs, check_step_inputs, randn_like, sqrt
from .prediction import Denoiser, eval_mode

__all__ = ["ddpm_step", "ddpm_sample", "VARIANCES"]

VARIANCES = ("small", "large")


def _check_variance(variance: str) -> None:
    if variance not in VARIANCES:
        raise ValueError(f"unknown variance {variance!r}: 'small' is beta_tilde (DDPM Eq. 7), 'large' is beta")


def ddpm_step(x_t: torch.Tensor, eps: torch.Tensor, alpha_bar_t, alpha_bar_prev, variance: str = "small",
              noise: torch.Tensor | None = None, clip_x0: float | None = None,
              x0_hat: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample q(x_prev | x_t, x0_hat), the DDPM posterior (Eq. 6-7) between any two timesteps; returns (x_prev, x0_hat).

    `x0_hat` may be passed in when the model predicts it directly (a v-model); `eps` is then unused.
    """
    _check_variance(variance)
    check_step_inputs(x_t, eps if x0_hat is None else None, alpha_bar_t, alpha_bar_prev, "ddpm_step")
    # 1. beta between the pair: 1 - alpha_bar_t / alpha_bar_prev (= beta_t when prev = t - 1)
    beta_t = 1.0 - alpha_bar_t / alpha_bar_prev
    if x0_hat is None:
        # 2. DDPM Eq. (15) solved for x_0: x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)
        x0_hat = (x_t - sqrt(1.0 - alpha_bar_t) * eps) / sqrt(alpha_bar_t)
    if clip_x0 is not None:
        x0_hat = x0_hat.clamp(-clip_x0, clip_x0)
    # 3. DDPM Eq. (7): mu = sqrt(alpha_bar_prev) beta_t / (1 - alpha_bar_t) x0_hat
    #                     + sqrt(alpha_t) (1 - alpha_bar_prev) / (1 - alpha_bar_t) x_t
    coef_x0 = sqrt(alpha_bar_prev) * beta_t / (1.0 - alpha_bar_t)
    coef_x_t = sqrt(1.0 - beta_t) * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t)
    mean = coef_x0 * x0_hat + coef_x_t * x_t
    if isinstance(alpha_bar_prev, (int, float)) and alpha_bar_prev >= 1.0:
        return mean, x0_hat  # the last step to the clean sample adds no noise
    # 4. DDPM Eq. (7): beta_tilde = (1 - alpha_bar_prev) / (1 - alpha_bar_t) beta_t  ("small"), or beta_t ("large")
    var = (1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t) * beta_t if variance == "small" else beta_t
    if isinstance(var, torch.Tensor):
        var = var * (alpha_bar_prev < 1.0)  # per-sample targets: no noise where the target is clean
    # 5. DDPM Alg. 2, line 4: x_prev = mu + sigma_t z
    x_prev = mean + sqrt(var) * (torch.randn_like(x_t) if noise is None else noise)
    return x_prev, x0_hat


@torch.no_grad()
def ddpm_sample(model, schedule: NoiseSchedule, x_T: torch.Tensor, *, steps: int | None = None,
                variance: str = "small", spacing: str = "trailing", y=None, guidance_scale: float = 1.0,
                generator: torch.Generator | None = None, record: bool = True, progress: bool = False,
                callback=None, clip_x0: float | None = None) -> Trajectory:
    """Ancestral sampling (DDPM Alg. 2); steps=None visits all T timesteps, fewer skips with the posterior."""
    _check_variance(variance)
    check_inputs(model, schedule, x_T, guidance_scale)
    ts = timesteps(schedule.T, schedule.T if steps is None else steps, spacing).tolist()
    den = Denoiser(model, schedule, x_T, y=y, guidance_scale=guidance_scale, sampler="ddpm_sample")
    rec = Recorder(x_T, ts, record=record, progress=progress, callback=callback, name="DDPM")
    alpha_bar, x = den.alpha_bar, x_T
    with eval_mode(model):
        for i, t, prev in rec.pairs():
            # 1. predict eps and x0_hat at t
            pred = den(x, t)
            # 2. DDPM Alg. 2, lines 3-4: the posterior step to prev, fresh Gaussian noise at every step but the last
            ab_prev = 1.0 if prev == -1 else alpha_bar[prev]
            noise = randn_like(x, generator) if ab_prev < 1.0 else None
            x, x0_hat = ddpm_step(x, pred.eps, alpha_bar[t], ab_prev, variance=variance, noise=noise,
                                  clip_x0=clip_x0, x0_hat=pred.x0_hat)
            rec.step(i, t, x, x0_hat)
    return rec.trajectory(x, den.nfe)
