"""DPM-Solver++(2M): a second-order multistep solver of the diffusion ODE in data prediction (Lu et al. 2022)."""
from __future__ import annotations

import math

import torch

from ..schedules import NoiseSchedule, timesteps
from .core import Trajectory, sample_loop

__all__ = ["dpm_solver_sample"]


def _half_log_snr(alpha_bar: float) -> float:
    """lambda = log(alpha / sigma) = 0.5 log(alpha_bar / (1 - alpha_bar)) (DPM-Solver Sec. 3.1)."""
    return 0.5 * (math.log(alpha_bar) - math.log1p(-alpha_bar))


@torch.no_grad()
def dpm_solver_sample(model: torch.nn.Module, schedule: NoiseSchedule, x_T: torch.Tensor, steps: int = 20, *,
                      order: int = 2, spacing: str = "trailing", y=None, guidance_scale: float = 1.0,
                      generator: torch.Generator | None = None, record: bool = True, progress: bool = False,
                      clip_x0: float | None = None) -> Trajectory:
    """DPM-Solver++(2M) with the midpoint correction (Lu et al. 2022, Alg. 2); order=1 is DDIM with eta=0.

    The first step and the final step to the clean sample are first order, as in the paper and diffusers.
    Deterministic: `generator` is accepted for a uniform signature and not used.
    """
    if order not in (1, 2):
        raise ValueError(f"order={order}: DPM-Solver++ here is first (1) or second (2) order multistep")
    ts = timesteps(schedule.T, steps, spacing)
    history = {}  # the previous step's data prediction D1 and step size h_last

    def update(x_t, eps, alpha_bar_t, alpha_bar_prev):
        alpha_t, sigma_t = math.sqrt(alpha_bar_t), math.sqrt(1.0 - alpha_bar_t)
        # 1. data prediction D0 = x0_hat = (x_t - sigma_t eps) / alpha_t  (DPM-Solver++ Eq. 8)
        x0_hat = (x_t - sigma_t * eps) / alpha_t
        if clip_x0 is not None:
            x0_hat = x0_hat.clamp(-clip_x0, clip_x0)
        if alpha_bar_prev >= 1.0:
            return x0_hat, x0_hat  # the final step to sigma = 0 lands on the data prediction
        alpha_s, sigma_s = math.sqrt(alpha_bar_prev), math.sqrt(1.0 - alpha_bar_prev)
        # 2. step size in half log-SNR: h = lambda_s - lambda_t
        h = _half_log_snr(alpha_bar_prev) - _half_log_snr(alpha_bar_t)
        D = x0_hat
        if order == 2 and "D1" in history:
            r = history["h"] / h
            # 3. DPM-Solver++(2M) Alg. 2: D = (1 + 1/(2r)) D0 - 1/(2r) D1
            D = (1.0 + 0.5 / r) * x0_hat - (0.5 / r) * history["D1"]
        history["D1"], history["h"] = x0_hat, h
        # 4. DPM-Solver++ Eq. (9), first-order exponential integrator: x_s = (sigma_s/sigma_t) x_t - alpha_s (e^{-h} - 1) D
        x_prev = (sigma_s / sigma_t) * x_t - alpha_s * math.expm1(-h) * D
        return x_prev, x0_hat

    return sample_loop(model, schedule, x_T, ts, update, y=y, guidance_scale=guidance_scale,
                       record=record, progress=progress, name=f"DPM-Solver++({order}M)" if order == 2 else "DPM-Solver++(1)")
