"""Feedback for exercise 1: alpha_bar from the betas and the forward jump q(x_t | x_0) (DDPM Eq. 4)."""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from ...schedules import NoiseSchedule, cosine_schedule, linear_schedule
from ._core import _call, _fail, _same

__all__ = ["check_alpha_bar", "check_q_sample", "REFERENCES"]

# teachkit's own answers, refused while the student's function runs
REFERENCES = {"alpha_bar": (NoiseSchedule.__post_init__,), "q_sample": (NoiseSchedule.q_sample,)}


def check_alpha_bar(alpha_bar_fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """alpha_bar_fn(betas) must equal prod_{s <= t} (1 - beta_s) (DDPM Eq. 4) on three schedules."""
    cases = {"betas=[0.1, 0.2, 0.5]": torch.tensor([0.1, 0.2, 0.5], dtype=torch.float64),
             "the linear schedule": linear_schedule().betas, "the cosine schedule": cosine_schedule().betas}
    for label, betas in cases.items():
        expected = NoiseSchedule(betas).alpha_bar
        got = _call(alpha_bar_fn, "alpha_bar", betas.clone(), refuse=REFERENCES["alpha_bar"])
        if _same(got, expected, rtol=1e-5, atol=1e-7):
            continue
        alphas = 1.0 - betas
        mistakes = {
            "that is alpha_t = 1 - beta_t itself; alpha_bar_t multiplies all of them up to t (torch.cumprod)": alphas,
            "you multiplied the betas; alpha_bar is the product of alpha = 1 - beta": torch.cumprod(betas, 0),
            "1 - (sum of betas) is only a first-order approximation; take the product of (1 - beta)": 1 - betas.cumsum(0),
            "off by one: alpha_bar_0 = 1 - beta_0, since index 0 is the first noising step":
                torch.cat([torch.ones(1, dtype=betas.dtype), torch.cumprod(alphas, 0)[:-1]]),
        }
        ok_shape = isinstance(got, torch.Tensor) and got.shape == expected.shape
        t = int((~torch.isclose(got.double(), expected, rtol=1e-5, atol=1e-7)).nonzero()[0, 0]) if ok_shape else 0
        _fail(f"your alpha_bar is off for {label} (first wrong entry t={t})", f"alpha_bar[{t}]",
              got[t:] if ok_shape else got, expected[t:], {h: w[t:] for h, w in mistakes.items()},
              "DDPM Eq. (4): alpha_bar_t = prod_{s=0..t} (1 - beta_s)")
    print("check_alpha_bar: ok, matches NoiseSchedule.alpha_bar on 3 schedules")


def check_q_sample(q_sample_fn: Callable) -> None:
    """q_sample_fn(x0, t, noise, alpha_bar) must match NoiseSchedule.q_sample (DDPM Eq. 4), one t per sample."""
    schedule = linear_schedule()
    g = torch.Generator().manual_seed(0)
    for shape in ((5, 2), (3, 1, 4, 4)):
        x0, noise = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
        t = torch.tensor([0, 999, 499, 100, 980][: shape[0]])
        expected = schedule.q_sample(x0, t, noise)
        where = f"your q_sample is off for x0 of shape {shape} at t={t.tolist()}"
        try:
            got = _call(q_sample_fn, "q_sample", x0.clone(), t.clone(), noise.clone(), schedule.alpha_bar.clone(),
                        refuse=REFERENCES["q_sample"])
        except NotImplementedError:
            raise
        except RuntimeError as err:
            raise AssertionError(f"{where}: it raised RuntimeError ({err}); alpha_bar[t] has shape (B,): reshape it to "
                                 "(B, 1, ...) with .view(-1, *[1] * (x0.ndim - 1)) so it broadcasts") from err
        if _same(got, expected):
            if got.dtype != x0.dtype:
                raise AssertionError(f"{where}: the values are right but x_t is {got.dtype} while x0 is {x0.dtype}; "
                                     "alpha_bar is float64, so cast alpha_bar[t] to x0.dtype (a float32 network "
                                     "rejects float64 input)")
            continue
        ab = schedule.alpha_bar[t].view(-1, *[1] * (x0.ndim - 1)).to(x0.dtype)
        ab_before = schedule.alpha_bar_at(t - 1).view(-1, *[1] * (x0.ndim - 1)).to(x0.dtype)
        mistakes = {
            "DDPM Eq. (4) takes square roots: sqrt(alpha_bar_t) * x0 + sqrt(1 - alpha_bar_t) * noise": ab * x0 + (1 - ab) * noise,
            "x0 and noise are swapped: x0 gets sqrt(alpha_bar_t), noise gets sqrt(1 - alpha_bar_t)":
                (1 - ab).sqrt() * x0 + ab.sqrt() * noise,
            "off by one: use alpha_bar[t], not alpha_bar[t - 1]": ab_before.sqrt() * x0 + (1 - ab_before).sqrt() * noise,
        }
        _fail(where, "x_t", got, expected, mistakes, "DDPM Eq. (4): x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise")
    print("check_q_sample: ok, matches NoiseSchedule.q_sample for 2-D points and images")
