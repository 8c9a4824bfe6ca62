"""DDIM: deterministic, non-Markovian sampling with the same trained noise predictor (Song, Meng, Ermon 2020)."""
from __future__ import annotations

import torch

from ..schedules import NoiseSchedule, timesteps
from .core import Trajectory, check_eta, randn_like, sample_loop, sqrt

__all__ = ["ddim_step", "ddim_sample"]


def ddim_step(x_t: torch.Tensor, eps: torch.Tensor, alpha_bar_t, alpha_bar_prev, eta: float = 0.0,
              noise: torch.Tensor | None = None, clip_x0: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One DDIM update from t to prev (DDIM Eq. 12 with sigma_t from Eq. 16); returns (x_prev, x0_hat)."""
    check_eta(eta)
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
def ddim_sample(model: torch.nn.Module, schedule: NoiseSchedule, x_T: torch.Tensor, steps: int = 50, *,
                eta: float = 0.0, spacing: str = "trailing", y=None, guidance_scale: float = 1.0,
                generator: torch.Generator | None = None, record: bool = True, progress: bool = False,
                clip_x0: float | None = None) -> Trajectory:
    """Sample with DDIM over `steps` timesteps of `spacing`; eta=0 is deterministic given x_T (DDIM Sec. 4.1)."""
    check_eta(eta)
    ts = timesteps(schedule.T, steps, spacing)

    def update(x_t, eps, alpha_bar_t, alpha_bar_prev):
        # fresh noise only when eta > 0 and the target is not the clean sample
        noise = randn_like(x_t, generator) if eta > 0 and alpha_bar_prev < 1.0 else None
        return ddim_step(x_t, eps, alpha_bar_t, alpha_bar_prev, eta=eta, noise=noise, clip_x0=clip_x0)

    return sample_loop(model, schedule, x_T, ts, update, y=y, guidance_scale=guidance_scale,
                       record=record, progress=progress, name="DDIM")
