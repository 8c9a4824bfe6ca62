"""Feedback for exercise 3: classifier-free guidance, the rule and a guided sampler (Ho & Salimans 2022)."""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from ...guidance import cfg_combine, guided_eps
from ...models.exact import GaussianMixtureEps
from ...samplers import ddim_sample
from ...samplers import SAMPLERS
from ...schedules import linear_schedule
from ...training import drop_labels
from ._core import Recorder, _call, _fail, _same, reference_copy, substituted

__all__ = ["check_cfg_combine", "check_guided_sampler", "check_drop_labels", "REFERENCES"]

# every sampler in the registry (any of them gives a DDIM-quality answer)
LIBRARY_SAMPLERS = tuple(dict.fromkeys(spec.fn for spec in SAMPLERS.values()))
# teachkit's own answers, refused while the student's function runs (the guided sampler may use teachkit.ddim_step)
REFERENCES = {"cfg_combine": (cfg_combine, guided_eps), "guided_sampler": (guided_eps, *LIBRARY_SAMPLERS),
              "drop_labels": (drop_labels,)}


def check_cfg_combine(cfg_combine_fn: Callable) -> None:
    """cfg_combine_fn(eps_uncond, eps_cond, scale) must be eps_uncond + scale * (eps_cond - eps_uncond) (CFG Eq. 6)."""
    u, c = torch.tensor([0.1, -0.2]), torch.tensor([0.5, 0.3])
    r = torch.randn(3, 2, generator=torch.Generator().manual_seed(0))
    cases = [(u, c, 7.5), (u, c, 0.0), (u, c, 1.0), (r, -r, 3.0), (r, 2 * r, 30.0)]
    for eps_u, eps_c, s in cases:
        expected = eps_u + s * (eps_c - eps_u)
        got = _call(cfg_combine_fn, "cfg_combine", eps_u.clone(), eps_c.clone(), s, refuse=REFERENCES["cfg_combine"])
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
        model = Recorder(base)
        # graded with a correct cfg_combine in place of the student's: a wrong combine costs its own points only
        with substituted(sampler_fn, cfg_combine=reference_copy(cfg_combine)):
            got = _call(sampler_fn, "guided sampler", model, schedule, x_T.clone(), y.clone(), scale, steps,
                        refuse=REFERENCES["guided_sampler"])
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


def check_drop_labels(drop_labels_fn: Callable) -> None:
    """drop_labels_fn(y, null_label, p_uncond, generator) replaces each label by null_label with probability p_uncond."""
    n, null = 20000, 3
    y = torch.arange(n) % 3
    for p in (0.1, 0.0, 1.0, 0.5):
        before = y.clone()
        got = _call(drop_labels_fn, "drop_labels", y, null, p, torch.Generator().manual_seed(0),
                    refuse=REFERENCES["drop_labels"])
        where = f"your drop_labels at p_uncond={p:g} (a batch of {n} labels 0, 1, 2; null label {null})"
        if not torch.equal(y, before):
            raise AssertionError(f"{where} changed the labels you were given in place; return a new tensor "
                                 "(torch.where(drop, null, y)) so the caller's batch keeps its labels")
        if not isinstance(got, torch.Tensor) or got.shape != y.shape or got.dtype != y.dtype:
            what = f"{got.dtype} of shape {tuple(got.shape)}" if isinstance(got, torch.Tensor) else type(got).__name__
            raise AssertionError(f"{where}: return a LongTensor shaped like y {tuple(y.shape)}, got {what}")
        kept = got == y
        if not bool((kept | (got == null)).all()):
            bad = got[~(kept | (got == null))][:3].tolist()
            raise AssertionError(f"{where}: every label must stay itself or become the null label {null}; got {bad}. "
                                 "Replace the dropped labels by null_label, do not shift or redraw them")
        frac = float((got == null).double().mean())
        # 20000 draws: the dropped fraction is within 4 binomial standard deviations of p
        tol = 4 * math.sqrt(max(p * (1 - p), 1e-12) / n) + 1e-9
        if abs(frac - p) > tol:
            hint = ("you dropped the labels you should keep: drop where torch.rand(...) < p_uncond, not >"
                    if abs(frac - (1 - p)) <= tol else
                    "draw one uniform number per label with the generator you are given and drop where it is < p_uncond")
            raise AssertionError(f"{where}: expected a fraction {p:g} of null labels, got {frac:.4f}; {hint}")
        per_class = [float((got[y == k] == null).double().mean()) for k in range(3)]
        if 0 < p < 1 and max(per_class) - min(per_class) > 2 * tol * math.sqrt(3):
            raise AssertionError(f"{where}: the dropped fraction differs by class ({[round(f, 3) for f in per_class]}); "
                                 "drop each label independently of its value")
    again = _call(drop_labels_fn, "drop_labels", y, null, 0.5, torch.Generator().manual_seed(0),
                  refuse=REFERENCES["drop_labels"])
    first = _call(drop_labels_fn, "drop_labels", y, null, 0.5, torch.Generator().manual_seed(0),
                  refuse=REFERENCES["drop_labels"])
    if not torch.equal(again, first):
        raise AssertionError("your drop_labels gives different results for the same generator seed: draw the random "
                             "numbers with the generator argument (torch.rand(y.shape, generator=generator))")
    print("check_drop_labels: ok at p_uncond 0, 0.1, 0.5 and 1 (kept or null, right fraction, reproducible)")
