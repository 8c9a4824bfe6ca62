"""Feedback for exercise 2: one DDIM step (Eq. 12, 16) and the few-step DDIM loop (Song, Meng, Ermon 2020)."""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from ...models.exact import GaussianMixtureEps
from ...samplers import ddim_sample, ddim_step
from ...samplers import SAMPLERS
from ...schedules import linear_schedule, timesteps
from ._core import Recorder, _call, _fail, _same, reference_copy, substituted

__all__ = ["check_ddim_step", "check_ddim_loop", "REFERENCES"]

# every sampler in the registry (any of them gives a DDIM-quality answer)
LIBRARY_SAMPLERS = tuple(dict.fromkeys(spec.fn for spec in SAMPLERS.values()))
# teachkit's own answers, refused while the student's function runs (sample_loop runs every library sampler)
REFERENCES = {"ddim_step": (ddim_step, *LIBRARY_SAMPLERS), "ddim_loop": (ddim_sample, *LIBRARY_SAMPLERS)}


def _ddim_mistakes(x_t, eps, ab_t, ab_prev, eta, noise) -> tuple[dict, dict]:
    """Typical wrong (x0_hat, x_prev) answers of one DDIM step, each with the hint that explains it."""
    x0 = (x_t - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)
    x0_mistakes = {
        "divide by sqrt(alpha_bar_t), not alpha_bar_t (DDIM Eq. 12, 'predicted x_0')": (x_t - math.sqrt(1 - ab_t) * eps) / ab_t,
        "the noise is weighted by sqrt(1 - alpha_bar_t), not (1 - alpha_bar_t)": (x_t - (1 - ab_t) * eps) / math.sqrt(ab_t),
        "you forgot to divide by sqrt(alpha_bar_t)": x_t - math.sqrt(1 - ab_t) * eps,
    }
    sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab_t)) * math.sqrt(1 - ab_t / ab_prev)
    z = noise if noise is not None else torch.zeros_like(x_t)
    prev_mistakes = {
        "did you re-noise with sqrt(1 - alpha_bar_prev)? You used sqrt(1 - alpha_bar_t)":
            math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_t - sigma**2, 0.0)) * eps + sigma * z,
        "DDIM Eq. (12) takes square roots: sqrt(alpha_bar_prev) * x0_hat + sqrt(1 - alpha_bar_prev) * eps":
            ab_prev * x0 + (1 - ab_prev) * eps + sigma * z,
        "re-noise with the predicted eps, not with fresh noise (DDIM uses eps twice)":
            math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev - sigma**2) * z + sigma * z,
        "you ignored eta: with eta > 0, sigma_t from DDIM Eq. (16) shrinks the direction term and scales fresh noise":
            math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps,
        "with eta > 0 add the fresh noise sigma_t * noise (DDIM Eq. 12)":
            math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev - sigma**2) * eps,
        "with eta > 0 the direction term shrinks to sqrt(1 - alpha_bar_prev - sigma_t^2) * eps (DDIM Eq. 12)":
            math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps + sigma * z,
    }
    return x0_mistakes, prev_mistakes


def check_ddim_step(ddim_step_fn: Callable) -> None:
    """ddim_step_fn(x_t, eps, alpha_bar_t, alpha_bar_prev, eta=0.0, noise=None) -> (x_prev, x0_hat) vs teachkit's."""
    schedule = linear_schedule()
    g = torch.Generator().manual_seed(0)
    # (t, prev, eta); the first case is the reference step x_t = 0.5, eps = 0.1, 980 -> 960 (x_prev = 0.586725)
    cases = [(980, 960, 0.0), (420, 400, 0.0), (999, 666, 0.0), (332, -1, 0.0), (980, 960, 1.0), (420, 400, 0.5)]
    for i, (t, prev, eta) in enumerate(cases):
        if i == 0:
            x_t, eps = torch.full((1, 2), 0.5), torch.full((1, 2), 0.1)
        else:
            x_t, eps = torch.randn(4, 2, generator=g), torch.randn(4, 2, generator=g)
        noise = torch.randn(x_t.shape, generator=g) if eta > 0 else None
        ab_t, ab_prev = schedule.alpha_bar_at(t), schedule.alpha_bar_at(prev)
        exp_prev, exp_x0 = ddim_step(x_t, eps, ab_t, ab_prev, eta=eta, noise=noise)
        out = _call(ddim_step_fn, "ddim_step", x_t.clone(), eps.clone(), ab_t, ab_prev, eta=eta,
                    noise=None if noise is None else noise.clone(), refuse=REFERENCES["ddim_step"])
        where = f"your ddim_step is off at t={t} -> prev={prev} (eta={eta:g})"
        if not (isinstance(out, tuple) and len(out) == 2):
            raise AssertionError(f"{where}: return the pair (x_prev, x0_hat), got {type(out).__name__}")
        got_prev, got_x0 = out
        x0_mistakes, prev_mistakes = _ddim_mistakes(x_t, eps, ab_t, ab_prev, eta, noise)
        if not _same(got_x0, exp_x0):
            _fail(where, "x0_hat", got_x0, exp_x0, x0_mistakes,
                  "DDIM Eq. (12): x0_hat = (x_t - sqrt(1 - alpha_bar_t) * eps) / sqrt(alpha_bar_t)")
        if not _same(got_prev, exp_prev):
            default = ("prev = -1 is the clean sample: alpha_bar_prev = 1, so x_prev must equal x0_hat" if prev == -1 else
                       "DDIM Eq. (12): x_prev = sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev - sigma_t^2) eps + sigma_t noise, "
                       "sigma_t from Eq. (16)")
            _fail(where, "x_prev", got_prev, exp_prev, prev_mistakes, default)
    print(f"check_ddim_step: ok, {len(cases)} cases match teachkit.ddim_step (eta 0, 0.5 and 1, down to clean)")


def check_ddim_loop(ddim_loop_fn: Callable, steps: Sequence[int] = (3, 10)) -> None:
    """ddim_loop_fn(model, schedule, x_T, steps) -> [x_T, ..., x_0] must visit the trailing timesteps like ddim_sample."""
    schedule = linear_schedule()
    for n in steps:
        model = Recorder(GaussianMixtureEps(schedule))
        x_T = torch.randn(8, 2, generator=torch.Generator().manual_seed(n))
        expected = ddim_sample(model.model, schedule, x_T, steps=n).xs
        ts = timesteps(schedule.T, n).tolist()
        # graded with a correct ddim_step in place of the student's: a wrong step costs the step's points only
        with substituted(ddim_loop_fn, ddim_step=reference_copy(ddim_step)):
            got = _call(ddim_loop_fn, "ddim_loop", model, schedule, x_T.clone(), n, refuse=REFERENCES["ddim_loop"])
        where = f"your ddim_loop with steps={n}"
        visited = [c[1][0] for c in model.calls]
        if visited != ts:
            raise AssertionError(
                f"{where} called the model at t={visited}; {n} trailing steps visit {ts} (teachkit.timesteps(1000, {n})), "
                "one forward pass each. 'prev' is the next entry of that list, then -1 (clean), never a fixed stride")
        if not isinstance(got, (list, tuple, torch.Tensor)) or len(got) != n + 1:
            raise AssertionError(f"{where}: return the list [x_T, x after step 1, ..., x_0] of {n + 1} tensors, "
                                 f"got {type(got).__name__} of length {len(got) if hasattr(got, '__len__') else '?'}")
        pairs = list(zip(ts, ts[1:] + [-1]))
        for i in range(n + 1):
            if _same(got[i], expected[i]):
                continue
            if i == 0:
                raise AssertionError(f"{where}: the first entry must be x_T itself, unchanged")
            t, prev = pairs[i - 1]
            hint = ("the last step goes to clean: alpha_bar_prev = schedule.alpha_bar_at(-1) = 1, so it returns x0_hat"
                    if prev == -1 else "each step calls ddim_step(x, eps, alpha_bar_at(t), alpha_bar_at(prev)) and keeps x_prev")
            _fail(f"{where} is off after step {i} (t={t} -> prev={prev})", "x", got[i], expected[i], {}, hint)
    print(f"check_ddim_loop: ok, matches teachkit.ddim_sample for steps={list(steps)} "
          f"(3 steps: 999 -> 666 -> 332 -> clean)")
