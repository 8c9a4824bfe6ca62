"""Feedback for exercise 4: DDPM's ancestral step, the posterior mean and its two variances (Ho, Jain, Abbeel 2020, Eq. 6-7)."""
from __future__ import annotations

import math
from typing import Callable

import torch

from ...samplers import ddpm_step
from ...schedules import linear_schedule
from ._core import _call, _fail, _same, reference_copy, substituted
from .ddim import LIBRARY_SAMPLERS

__all__ = ["check_posterior_mean", "check_ddpm_step", "REFERENCES"]


def _posterior_mean(x_t, x0_hat, alpha_bar_t: float, alpha_bar_prev: float):
    """DDPM Eq. (7): mu = sqrt(ab_prev) beta / (1 - ab_t) x0 + sqrt(alpha) (1 - ab_prev) / (1 - ab_t) x_t."""
    # beta between the pair: 1 - alpha_bar_t / alpha_bar_prev (= beta_t when prev = t - 1)
    beta = 1.0 - alpha_bar_t / alpha_bar_prev
    return (math.sqrt(alpha_bar_prev) * beta / (1.0 - alpha_bar_t) * x0_hat
            + math.sqrt(1.0 - beta) * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t) * x_t)


# teachkit's own answers (and this module's), refused while the student's function runs
REFERENCES = {"posterior_mean": (_posterior_mean, ddpm_step), "ddpm_step": (_posterior_mean, ddpm_step, *LIBRARY_SAMPLERS)}
CASES = [(999, 998), (500, 499), (100, 99), (420, 400), (1, 0)]


def check_posterior_mean(fn: Callable) -> None:
    """fn(x_t, x0_hat, alpha_bar_t, alpha_bar_prev) -> the mean of q(x_prev | x_t, x_0) (DDPM Eq. 7)."""
    schedule = linear_schedule()
    g = torch.Generator().manual_seed(0)
    for t, prev in CASES:
        x_t, x0 = torch.randn(4, 2, generator=g), torch.randn(4, 2, generator=g)
        ab_t, ab_prev = schedule.alpha_bar_at(t), schedule.alpha_bar_at(prev)
        expected = _posterior_mean(x_t, x0, ab_t, ab_prev)
        got = _call(fn, "posterior_mean", x_t.clone(), x0.clone(), ab_t, ab_prev, refuse=REFERENCES["posterior_mean"])
        if _same(got, expected):
            continue
        beta = 1 - ab_t / ab_prev
        mistakes = {
            "the x_t coefficient has sqrt(alpha_t) = sqrt(1 - beta_t), not sqrt(alpha_bar_t)":
                math.sqrt(ab_prev) * beta / (1 - ab_t) * x0 + math.sqrt(ab_t) * (1 - ab_prev) / (1 - ab_t) * x_t,
            "the two coefficients are swapped: x0_hat gets sqrt(alpha_bar_prev) beta_t / (1 - alpha_bar_t)":
                math.sqrt(ab_prev) * beta / (1 - ab_t) * x_t + math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab_t) * x0,
            "x0_hat is weighted by sqrt(alpha_bar_prev), not alpha_bar_prev":
                ab_prev * beta / (1 - ab_t) * x0 + math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab_t) * x_t,
            "beta_t between t and prev is 1 - alpha_bar_t / alpha_bar_prev, not 1 - alpha_bar_t":
                math.sqrt(ab_prev) * (1 - ab_t) / (1 - ab_t) * x0 + math.sqrt(ab_t) * (1 - ab_prev) / (1 - ab_t) * x_t,
        }
        _fail(f"your posterior_mean is off at t={t} -> prev={prev}", "mu", got, expected, mistakes,
              "DDPM Eq. (7): mu = sqrt(alpha_bar_prev) beta_t / (1 - alpha_bar_t) x0_hat "
              "+ sqrt(alpha_t) (1 - alpha_bar_prev) / (1 - alpha_bar_t) x_t")
    print(f"check_posterior_mean: ok, {len(CASES)} timestep pairs match DDPM Eq. (7)")


def check_ddpm_step(fn: Callable) -> None:
    """fn(x_t, eps, alpha_bar_t, alpha_bar_prev, variance, noise) -> (x_prev, x0_hat) vs teachkit.ddpm_step, both variances."""
    schedule = linear_schedule()
    g = torch.Generator().manual_seed(1)
    cases = [(t, prev, v) for t, prev in CASES[:3] for v in ("small", "large")] + [(50, -1, "small")]
    for t, prev, variance in cases:
        x_t, eps, noise = (torch.randn(4, 2, generator=g) for _ in range(3))
        ab_t, ab_prev = schedule.alpha_bar_at(t), schedule.alpha_bar_at(prev)
        exp_prev, exp_x0 = ddpm_step(x_t, eps, ab_t, ab_prev, variance=variance, noise=noise)
        # graded with a correct posterior_mean in place of the student's own (that one has its own question)
        with substituted(fn, posterior_mean=reference_copy(_posterior_mean)):
            out = _call(fn, "ddpm_step", x_t.clone(), eps.clone(), ab_t, ab_prev, variance, noise.clone(),
                        refuse=REFERENCES["ddpm_step"])
        where = f"your ddpm_step is off at t={t} -> prev={prev} (variance={variance!r})"
        if not (isinstance(out, tuple) and len(out) == 2):
            raise AssertionError(f"{where}: return the pair (x_prev, x0_hat), got {type(out).__name__}")
        got_prev, got_x0 = out
        if not _same(got_x0, exp_x0):
            _fail(where, "x0_hat", got_x0, exp_x0, {}, "x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)")
        mean = _posterior_mean(x_t, exp_x0, ab_t, ab_prev)
        beta = 1 - ab_t / ab_prev
        small = (1 - ab_prev) / (1 - ab_t) * beta
        mistakes = {} if prev == -1 else {
            "'small' is beta_tilde = (1 - alpha_bar_prev) / (1 - alpha_bar_t) beta_t and 'large' is beta_t: you swapped them":
                mean + math.sqrt(beta if variance == "small" else small) * noise,
            "the noise is scaled by the standard deviation sqrt(variance), not the variance":
                mean + (small if variance == "small" else beta) * noise,
            "you added no noise: DDPM's step draws fresh noise, x_prev = mu + sigma * noise (Alg. 2, line 4)": mean,
        }
        default = ("the last step to clean (alpha_bar_prev = 1) adds no noise: return the mean" if prev == -1 else
                   "x_prev = mu + sqrt(variance) * noise with the given noise (DDPM Alg. 2, line 4)")
        if prev == -1:
            mistakes["the last step to clean (alpha_bar_prev = 1) adds no noise: return the mean"] = mean + 0 * noise
        if not _same(got_prev, exp_prev):
            _fail(where, "x_prev", got_prev, exp_prev, mistakes, default)
    print(f"check_ddpm_step: ok, {len(cases)} cases match teachkit.ddpm_step (both variances, down to clean)")
