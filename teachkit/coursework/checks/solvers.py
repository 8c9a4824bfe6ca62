"""Feedback for exercise 5: one DPM-Solver++(2M) step, DDIM plus one line (Lu et al. 2022, Alg. 2)."""
from __future__ import annotations

import math
from typing import Callable

import torch

from ...models.exact import GaussianMixtureEps
from ...samplers import dpm_solver_sample
from ...schedules import linear_schedule, timesteps
from ._core import _call, _fail, _same
from .ddim import LIBRARY_SAMPLERS

__all__ = ["check_dpmpp_step", "REFERENCES", "half_log_snr"]


def half_log_snr(alpha_bar: float) -> float:
    """lambda = log(alpha / sigma) = 0.5 log(alpha_bar / (1 - alpha_bar)) (DPM-Solver Sec. 3.1)."""
    return 0.5 * (math.log(alpha_bar) - math.log1p(-alpha_bar))


def _dpmpp_step(x_t, x0_hat, alpha_bar_t, alpha_bar_prev, x0_hat_last=None, h_last=None):
    """DPM-Solver++(2M), Alg. 2: (x_prev, h) from the data predictions now (D0) and one step ago (D1)."""
    if alpha_bar_prev >= 1.0:
        return x0_hat, None  # the step to clean lands on the data prediction
    sigma_t, alpha_s, sigma_s = math.sqrt(1 - alpha_bar_t), math.sqrt(alpha_bar_prev), math.sqrt(1 - alpha_bar_prev)
    # step size in half log-SNR
    h = half_log_snr(alpha_bar_prev) - half_log_snr(alpha_bar_t)
    D = x0_hat
    if x0_hat_last is not None:
        r = h_last / h
        # Alg. 2: D = (1 + 1/(2r)) D0 - 1/(2r) D1
        D = (1 + 0.5 / r) * x0_hat - (0.5 / r) * x0_hat_last
    # DPM-Solver++ Eq. (9): x_s = (sigma_s / sigma_t) x_t - alpha_s (e^{-h} - 1) D
    return (sigma_s / sigma_t) * x_t - alpha_s * math.expm1(-h) * D, h


REFERENCES = {"dpmpp_step": (_dpmpp_step, *LIBRARY_SAMPLERS)}


def check_dpmpp_step(fn: Callable) -> None:
    """fn(x_t, x0_hat, alpha_bar_t, alpha_bar_prev, x0_hat_last=None, h_last=None) -> (x_prev, h); then a 10-step sampler."""
    schedule = linear_schedule()
    g = torch.Generator().manual_seed(0)
    ab = schedule.alpha_bar_at
    cases = [(999, 899, False), (899, 799, True), (420, 300, True), (100, 0, True), (332, -1, True)]
    for t, prev, second in cases:
        x_t, x0, x0_last = (torch.randn(4, 2, generator=g) for _ in range(3))
        h_last = half_log_snr(ab(t)) - half_log_snr(ab(min(t + 100, 999))) if second else None
        last = x0_last if second else None
        exp_prev, exp_h = _dpmpp_step(x_t, x0, ab(t), ab(prev), last, h_last)
        out = _call(fn, "dpmpp_step", x_t.clone(), x0.clone(), ab(t), ab(prev),
                    None if last is None else last.clone(), h_last, refuse=REFERENCES["dpmpp_step"])
        where = f"your dpmpp_step is off at t={t} -> prev={prev} ({'second order' if second else 'first step: first order'})"
        if not (isinstance(out, tuple) and len(out) == 2):
            raise AssertionError(f"{where}: return the pair (x_prev, h), got {type(out).__name__}")
        got, got_h = out
        if prev != -1 and (not isinstance(got_h, (int, float)) or abs(got_h - exp_h) > 1e-6 * max(1.0, abs(exp_h))):
            raise AssertionError(f"{where}: expected h={exp_h:.4f}, got {got_h!r}; h = lambda_prev - lambda_t with "
                                 "lambda = 0.5 log(alpha_bar / (1 - alpha_bar)), the half log-SNR (positive: prev is cleaner)")
        if _same(got, exp_prev):
            continue
        sigma_t, a_s, s_s = math.sqrt(1 - ab(t)), math.sqrt(ab(prev)), math.sqrt(max(1 - ab(prev), 0.0))
        first = None if prev == -1 else _dpmpp_step(x_t, x0, ab(t), ab(prev))[0]
        mistakes = {}
        if prev != -1 and second:
            r = h_last / exp_h
            mistakes["with an earlier step, use D = (1 + 1/(2r)) x0_hat - 1/(2r) x0_hat_last with r = h_last / h; "
                     "you took the first-order step (D = x0_hat)"] = first
            mistakes["r is h_last / h (the earlier step over this one), not h / h_last"] = \
                (s_s / sigma_t) * x_t - a_s * math.expm1(-exp_h) * ((1 + 0.5 * r) * x0 - 0.5 * r * x0_last)
        if prev != -1:
            mistakes["the update is x_prev = (sigma_prev / sigma_t) x_t - alpha_prev (e^{-h} - 1) D: mind the sign of "
                     "expm1(-h), which is negative"] = (s_s / sigma_t) * x_t + a_s * math.expm1(-exp_h) * x0
        default = ("the last step to clean returns x0_hat itself (sigma_prev = 0)" if prev == -1 else
                   "DPM-Solver++ Eq. (9): x_prev = (sigma_prev / sigma_t) x_t - alpha_prev (e^{-h} - 1) D")
        _fail(where, "x_prev", got, exp_prev, mistakes, default)
    # the step in a sampler: 10 steps on the exact model must match teachkit.dpm_solver_sample
    model = GaussianMixtureEps(schedule)
    x_T = torch.randn(8, 2, generator=torch.Generator().manual_seed(3))
    expected = dpm_solver_sample(model, schedule, x_T, 10).sample
    ts = timesteps(schedule.T, 10).tolist()
    x, last, h_last = x_T, None, None
    for t, prev in zip(ts, ts[1:] + [-1]):
        eps = model(x, torch.full((x.shape[0],), t))
        x0 = (x - math.sqrt(1 - ab(t)) * eps) / math.sqrt(ab(t))
        x, h = _call(fn, "dpmpp_step", x, x0, ab(t), ab(prev), last, h_last, refuse=REFERENCES["dpmpp_step"])
        last, h_last = x0, h
    if not _same(x, expected, rtol=1e-3, atol=1e-4):
        _fail("a 10-step sampler built from your dpmpp_step", "x_0", x, expected, {},
              "each step passes its x0_hat and h on as the next step's x0_hat_last and h_last")
    print(f"check_dpmpp_step: ok, {len(cases)} steps and a 10-step sampler match teachkit.dpm_solver_sample")
