"""Feedback for the exercises: compare a student's function with teachkit's own and explain the first difference."""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from .models.exact import GaussianMixtureEps
from .samplers import ddim_sample, ddim_step
from .schedules import NoiseSchedule, cosine_schedule, linear_schedule, timesteps

__all__ = ["GaussianMixtureEps", "check_alpha_bar", "check_q_sample", "check_ddim_step", "check_ddim_loop",
           "check_cfg_combine", "check_guided_sampler"]


class _Recorder(torch.nn.Module):
    """Wraps a model and records (batch size, timesteps, labels) of every forward call."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model, self.calls = model, []
        for name in ("num_classes", "null_label", "sample_shape"):
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))

    def forward(self, x, t, y=None):
        self.calls.append((x.shape[0], t.detach().cpu().tolist(), None if y is None else y.detach().cpu().tolist()))
        return self.model(x, t, y)


def _num(v) -> str:
    """A tensor or number as a short string: the first element to 4 decimals."""
    v = torch.as_tensor(v).detach().reshape(-1)
    return f"{float(v[0]):.4f}" if v.numel() else "(empty)"


def _same(got, expected, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """True when got is a tensor of expected's shape with close values (dtypes may differ)."""
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(expected.shape):
        return False
    return bool(torch.allclose(got.detach().double(), expected.double(), rtol=rtol, atol=atol))


def _fail(where: str, what: str, got, expected, mistakes: dict[str, torch.Tensor], default: str) -> None:
    """Raise an AssertionError naming the case, the numbers and the first known mistake that explains `got`."""
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"{where}: {what} should be a torch.Tensor, got {type(got).__name__}")
    if tuple(got.shape) != tuple(expected.shape):
        raise AssertionError(f"{where}: {what} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}")
    hint = next((h for h, wrong in mistakes.items() if _same(got, wrong)), default)
    raise AssertionError(f"{where}: expected {what}={_num(expected)}, got {_num(got)}; {hint}")


def _call(fn: Callable, name: str, *args, **kwargs):
    """Call the student's function; a TypeError (wrong signature or torch.sqrt on a float) gets a hint."""
    try:
        return fn(*args, **kwargs)
    except TypeError as err:
        raise AssertionError(f"calling your {name} raised TypeError: {err}. Check its signature against the "
                             "exercise; alpha_bar values are Python floats (use math.sqrt, not torch.sqrt)") from err


def check_alpha_bar(alpha_bar_fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """alpha_bar_fn(betas) must equal prod_{s <= t} (1 - beta_s) (DDPM Eq. 4) on three schedules."""
    cases = {"betas=[0.1, 0.2, 0.5]": torch.tensor([0.1, 0.2, 0.5], dtype=torch.float64),
             "the linear schedule": linear_schedule().betas, "the cosine schedule": cosine_schedule().betas}
    for label, betas in cases.items():
        expected = NoiseSchedule(betas).alpha_bar
        got = _call(alpha_bar_fn, "alpha_bar", betas.clone())
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
            got = _call(q_sample_fn, "q_sample", x0.clone(), t.clone(), noise.clone(), schedule.alpha_bar.clone())
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
                    noise=None if noise is None else noise.clone())
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
        model = _Recorder(GaussianMixtureEps(schedule))
        x_T = torch.randn(8, 2, generator=torch.Generator().manual_seed(n))
        expected = ddim_sample(model.model, schedule, x_T, steps=n).xs
        ts = timesteps(schedule.T, n).tolist()
        got = _call(ddim_loop_fn, "ddim_loop", model, schedule, x_T.clone(), n)
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


def check_cfg_combine(cfg_combine_fn: Callable) -> None:
    """cfg_combine_fn(eps_uncond, eps_cond, scale) must be eps_uncond + scale * (eps_cond - eps_uncond) (CFG Eq. 6)."""
    u, c = torch.tensor([0.1, -0.2]), torch.tensor([0.5, 0.3])
    r = torch.randn(3, 2, generator=torch.Generator().manual_seed(0))
    cases = [(u, c, 7.5), (u, c, 0.0), (u, c, 1.0), (r, -r, 3.0), (r, 2 * r, 30.0)]
    for eps_u, eps_c, s in cases:
        expected = eps_u + s * (eps_c - eps_u)
        got = _call(cfg_combine_fn, "cfg_combine", eps_u.clone(), eps_c.clone(), s)
        if _same(got, expected):
            continue
        mistakes = {
            "the arguments are swapped: scale 0 must give eps_uncond and scale 1 eps_cond": eps_c + s * (eps_u - eps_c),
            "you used the paper's w as the scale: (1 + w) eps_cond - w eps_uncond has w = scale - 1, so scale 1 is eps_cond":
                (1 + s) * eps_c - s * eps_u,
            "mind the parentheses: scale multiplies the difference (eps_cond - eps_uncond)": eps_u + s * eps_c - eps_u,
        }
        _fail(f"your cfg_combine is off at scale={s:g}", "eps", got, expected, mistakes,
              "eps = eps_uncond + scale * (eps_cond - eps_uncond)")
    print("check_cfg_combine: ok at scales 0, 1, 3, 7.5 and 30")


def check_guided_sampler(sampler_fn: Callable, steps: int = 10) -> None:
    """sampler_fn(model, schedule, x_T, y, scale, steps) -> x_0 must match ddim_sample with one batched forward per step."""
    schedule = linear_schedule()
    base = GaussianMixtureEps(schedule)
    x_T = torch.randn(6, 2, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    for scale in (3.0, 0.0, 1.0):
        model = _Recorder(base)
        got = _call(sampler_fn, "guided sampler", model, schedule, x_T.clone(), y.clone(), scale, steps)
        where = f"your guided sampler at scale={scale:g} ({steps} steps, batch of {len(y)})"
        if len(model.calls) != steps:
            per = len(model.calls) / steps
            raise AssertionError(
                f"{where} made {len(model.calls)} forward calls ({per:g} per step); make ONE batched call per step: "
                "model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null])) and split it with .chunk(2)")
        if scale not in (0.0, 1.0):
            size, _, labels = model.calls[0]
            if size != 2 * len(y) or labels is None or sorted(labels) != sorted(y.tolist() + [base.null_label] * len(y)):
                raise AssertionError(
                    f"{where}: each call should see the batch twice (2B = {2 * len(y)} rows) with labels y and the null "
                    f"label model.null_label = {base.null_label}; your first call had {size} rows and labels {labels}")
        expected = ddim_sample(base, schedule, x_T, steps, y=y, guidance_scale=scale).sample
        if not _same(got, expected, rtol=1e-3, atol=1e-4):
            swapped = ddim_sample(base, schedule, x_T, steps, y=y, guidance_scale=1.0 - scale).sample
            _fail(where, "x_0", got, expected,
                  {"the halves are swapped: after .chunk(2) the first half is the one you ran with y (eps_cond)": swapped},
                  "step with teachkit.ddim_step(x, eps, alpha_bar_at(t), alpha_bar_at(prev)) over teachkit.timesteps(T, steps)")
    print("check_guided_sampler: ok, matches teachkit.ddim_sample with one batched forward per step at scales 0, 1 and 3")
