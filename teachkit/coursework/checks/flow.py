"""Feedback for exercise 6: flow matching, the training pair and an Euler sampler (Lipman et al. 2023; Liu et al. 2023).

The path is x_t = (1 - t) x_0 + t eps with t in [0, 1]; the network learns the velocity eps - x_0 and
sampling integrates dx/dt = v(x, t) from t = 1 (noise) to t = 0 (data). teachkit has no flow-matching
sampler, so the reference answers live here (and are refused while a student's function runs).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from ._core import _call, _fail, _same
from .ddim import LIBRARY_SAMPLERS

__all__ = ["GaussianMixtureVelocity", "check_flow_pair", "check_flow_euler", "REFERENCES"]


class GaussianMixtureVelocity(torch.nn.Module):
    """The exact flow-matching velocity E[eps - x_0 | x_t = x] for data from a mixture of N(mu_k, std^2 I) (no training)."""

    def __init__(self, means: Sequence = ((2.0, 0.0), (-2.0, 0.0), (0.0, 2.0)), std: float = 0.3):
        super().__init__()
        self.means, self.std, self.calls = torch.as_tensor(means, dtype=torch.float64), float(std), 0

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x (B, D), t a float tensor (B,) in [0, 1]: the velocity (B, D) in x's dtype."""
        if not isinstance(t, torch.Tensor) or t.shape != (x.shape[0],) or not t.is_floating_point():
            raise TypeError(f"t must be a float tensor of shape ({x.shape[0]},), one time per sample, got "
                            f"{t.dtype if isinstance(t, torch.Tensor) else type(t).__name__}")
        self.calls += 1
        a, s = (1 - t.double())[:, None, None], t.double()[:, None, None]  # (B, 1, 1)
        xd = x.double()[:, None, :]  # (B, 1, D)
        # component k: x_t | k ~ N(a mu_k, v I) with v = a^2 std^2 + s^2
        v = a**2 * self.std**2 + s**2
        resid = xd - a * self.means[None]  # (B, K, D)
        logits = (-0.5 * (resid**2).sum(-1, keepdim=True) / v - 0.5 * x.shape[1] * torch.log(v)).squeeze(-1)
        w = logits.softmax(dim=1)[:, :, None]  # p(k | x_t)
        # E[eps | x, k] = s / v resid;  E[x_0 | x, k] = mu_k + a std^2 / v resid
        vel = (s / v) * resid - (self.means[None] + a * self.std**2 / v * resid)
        return (w * vel).sum(1).to(x.dtype)


def _flow_pair(x0, eps, t):
    tt = t.reshape(-1, *[1] * (x0.ndim - 1)).to(x0.dtype)
    return (1 - tt) * x0 + tt * eps, eps - x0


def _flow_euler(velocity, x1, steps: int):
    ts = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64).tolist()
    xs, x = [x1], x1
    for t, t_next in zip(ts, ts[1:]):
        # Euler: x(t_next) = x(t) + (t_next - t) v(x(t), t)
        x = x + (t_next - t) * velocity(x, torch.full((x.shape[0],), t, dtype=x.dtype))
        xs.append(x)
    return xs


REFERENCES = {"flow_pair": (_flow_pair,), "flow_euler": (_flow_euler, *LIBRARY_SAMPLERS)}


def check_flow_pair(fn: Callable) -> None:
    """fn(x0, eps, t) -> (x_t, v_target) with x_t = (1 - t) x0 + t eps and v = eps - x0, t a (B,) float tensor."""
    g = torch.Generator().manual_seed(0)
    for shape in ((5, 2), (3, 1, 4, 4)):
        x0, eps = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
        t = torch.tensor([0.0, 1.0, 0.25, 0.5, 0.9][: shape[0]])
        exp_xt, exp_v = _flow_pair(x0, eps, t)
        where = f"your flow_pair is off for x0 of shape {shape} at t={t.tolist()}"
        try:
            out = _call(fn, "flow_pair", x0.clone(), eps.clone(), t.clone(), refuse=REFERENCES["flow_pair"])
        except NotImplementedError:
            raise
        except RuntimeError as err:
            raise AssertionError(f"{where}: it raised RuntimeError ({err}); t has shape (B,): reshape it to "
                                 "(B, 1, ...) so it broadcasts over x0") from err
        if not (isinstance(out, tuple) and len(out) == 2):
            raise AssertionError(f"{where}: return the pair (x_t, v_target), got {type(out).__name__}")
        got_xt, got_v = out
        tt = t.reshape(-1, *[1] * (x0.ndim - 1))
        if not _same(got_xt, exp_xt):
            _fail(where, "x_t", got_xt, exp_xt, {
                "the ends are swapped: t = 0 is the data x0 and t = 1 is the noise": tt * x0 + (1 - tt) * eps,
                "that is the diffusion path with square roots; flow matching's path is linear: (1 - t) x0 + t eps":
                    (1 - tt).sqrt() * x0 + tt.sqrt() * eps}, "x_t = (1 - t) x0 + t eps")
        if not _same(got_v, exp_v):
            _fail(where, "v_target", got_v, exp_v, {"the sign is flipped: v = dx_t/dt = eps - x0": x0 - eps},
                  "the target velocity is d x_t / dt = eps - x0")
    print("check_flow_pair: ok, x_t and the velocity target match for 2-D points and images")


def check_flow_euler(fn: Callable, steps: Sequence[int] = (1, 4, 10)) -> None:
    """fn(velocity, x1, steps) -> [x at t=1, ..., x at t=0]: Euler steps of size 1/steps on dx/dt = v(x, t)."""
    model = GaussianMixtureVelocity()
    for n in steps:
        x1 = torch.randn(6, 2, generator=torch.Generator().manual_seed(n))
        expected = _flow_euler(model, x1, n)
        model.calls = 0
        got = _call(fn, "flow_euler", model, x1.clone(), n, refuse=REFERENCES["flow_euler"])
        where = f"your flow_euler with steps={n}"
        if model.calls != n:
            raise AssertionError(f"{where} called the velocity {model.calls} times; Euler calls it once per step ({n})")
        if not isinstance(got, (list, tuple)) or len(got) != n + 1:
            raise AssertionError(f"{where}: return the list of {n + 1} states [x at t=1, ..., x at t=0], got "
                                 f"{type(got).__name__} of length {len(got) if hasattr(got, '__len__') else '?'}")
        for i in range(1, n + 1):
            if _same(got[i], expected[i]):
                continue
            t, t_next = 1 - (i - 1) / n, 1 - i / n
            v = model(expected[i - 1], torch.full((6,), t))
            model.calls -= 1
            mistakes = {
                "wrong direction: going from t = 1 to 0 the step is x + (t_next - t) v, and t_next - t = -1/steps is "
                "negative": expected[i - 1] + (t - t_next) * v,
                "evaluate the velocity at the current time t, not at t_next (explicit Euler)":
                    expected[i - 1] + (t_next - t) * model(expected[i - 1], torch.full((6,), t_next)),
            }
            model.calls -= 1
            _fail(f"{where} is off after step {i} (t={t:g} -> {t_next:g})", "x", got[i], expected[i], mistakes,
                  "x(t_next) = x(t) + (t_next - t) v(x(t), t) with t = 1, 1 - 1/steps, ..., 0")
    print(f"check_flow_euler: ok, matches Euler on the exact velocity for steps={list(steps)}")
