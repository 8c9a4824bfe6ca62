"""DPM-Solver++(2M): a second-order multistep solver of the diffusion ODE in data prediction (Lu et al. 2022)."""
from __future__ import annotations

import math

import torch

from ..schedules import NoiseSchedule, timesteps
from .core import Recorder, Trajectory, check_inputs
from .prediction import Denoiser, eval_mode

__all__ = ["dpm_solver_sample"]


def _half_log_snr(alpha_bar: float) -> float:
    """lambda = log(alpha / sigma) = 0.5 log(alpha_bar / (1 - alpha_bar)) (DPM-Solver Sec. 3.1)."""
    return 0.5 * (math.log(alpha_bar) - math.log1p(-alpha_bar))


@torch.no_grad()
def dpm_solver_sample(model, schedule: NoiseSchedule, x_T: torch.Tensor, steps: int = 20, *,
                      order: int = 2, spacing: str = "trailing", y=None, guidance_scale: float = 1.0,
                      generator: torch.Generator | None = None, record: bool = True, progress: bool = False,
                      callback=None, clip_x0: float | None = None) -> Trajectory:
    """DPM-Solver++(2M) with the midpoint correction (Lu et al. 2022, Alg. 2); order=1 is DDIM with eta=0.

    The first step and the final step to the clean sample are first order, as in the paper and diffusers.
    Deterministic: `generator` is accepted for a uniform signature and not used.
    """
    if order not in (1, 2):
        raise ValueError(f"order={order}: DPM-Solver++ here is first (1) or second (2) order multistep")
    check_inputs(model, schedule, x_T, guidance_scale)
    ts = timesteps(schedule.T, steps, spacing).tolist()
    den = Denoiser(model, schedule, x_T, y=y, guidance_scale=guidance_scale, sampler="dpm_solver_sample")
    name = "DPM-Solver++(2M)" if order == 2 else "DPM-Solver++(1)"
    rec = Recorder(x_T, ts, record=record, progress=progress, callback=callback, name=name)
    alpha_bar, x = den.alpha_bar, x_T
    D1, h_last = None, None  # the previous step's data prediction and step size (the multistep memory)
    with eval_mode(model):
        for i, t, prev in rec.pairs():
            # 1. data prediction D0 = x0_hat (DPM-Solver++ Eq. 8: (x_t - sigma_t eps) / alpha_t for an eps-model)
            x0_hat = den(x, t).x0_hat
            if clip_x0 is not None:
                x0_hat = x0_hat.clamp(-clip_x0, clip_x0)
            if prev == -1:
                # the final step to sigma = 0 lands on the data prediction
                x = x0_hat
                rec.step(i, t, x, x0_hat)
                continue
            ab_t, ab_s = alpha_bar[t], alpha_bar[prev]
            sigma_t, alpha_s, sigma_s = math.sqrt(1.0 - ab_t), math.sqrt(ab_s), math.sqrt(1.0 - ab_s)
            # 2. step size in half log-SNR: h = lambda_s - lambda_t
            h = _half_log_snr(ab_s) - _half_log_snr(ab_t)
            D = x0_hat
            if order == 2 and D1 is not None:
                r = h_last / h
                # 3. DPM-Solver++(2M) Alg. 2: D = (1 + 1/(2r)) D0 - 1/(2r) D1
                D = (1.0 + 0.5 / r) * x0_hat - (0.5 / r) * D1
            D1, h_last = x0_hat, h
            # 4. DPM-Solver++ Eq. (9), first-order exponential integrator: x_s = (sigma_s/sigma_t) x_t - alpha_s (e^{-h} - 1) D
            x = (sigma_s / sigma_t) * x - alpha_s * math.expm1(-h) * D
            rec.step(i, t, x, x0_hat)
    return rec.trajectory(x, den.nfe)
