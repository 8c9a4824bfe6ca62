"""The trajectory explorers' settings as plain functions: the key of one setting, its words, the slider ranges, its neighbours.

A setting is the tuple (sampler name, steps, eta or None, scale or None, class, seed): the cache key of
the trajectory it gives. TrajectoryExplorerBase (explorer_base.py) reads its controls into one and
calls these; nothing here touches a widget, so each is tested on its own.
"""
from __future__ import annotations

import torch

__all__ = ["MIXED", "UNCOND", "STEPS_LADDER", "PREFETCH_MAX_STEPS", "check_start", "class_options", "steps_ladder",
           "setting", "labels_for", "describe", "title", "neighbours"]

MIXED, UNCOND = "mixed", "unconditional"
# the steps slider moves along this ladder (plus the starting value), so arrow keys make useful jumps
STEPS_LADDER = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 150, 200, 250, 300, 400, 500,
                600, 800, 1000)
PREFETCH_MAX_STEPS = 200  # neighbours dearer than this are not prefetched


def check_start(steps: int, eta: float, scale: float, max_steps: int) -> None:
    """Starting values must fit the sliders (a slider would silently clamp them)."""
    if not 1 <= steps <= max_steps:
        raise ValueError(f"steps={steps}: the steps slider runs from 1 to {max_steps} (at most T)")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta={eta}: eta runs from 0 (deterministic DDIM) to 1 (DDPM-like noise)")
    if not 0.0 <= scale <= 30.0:
        raise ValueError(f"scale={scale}: the guidance slider runs from 0 (unconditional) to 30")


def class_options(num_classes: int | None) -> list[list]:
    """The class menu as [label, value] pairs: mixed, unconditional, then each class (only unconditional without classes)."""
    if not num_classes:
        return [[UNCOND, UNCOND]]
    return [[MIXED, MIXED], [UNCOND, UNCOND]] + [[f"class {k}", k] for k in range(num_classes)]


def steps_ladder(steps: int, max_steps: int) -> list[int]:
    """The steps slider's stops: STEPS_LADDER up to max_steps, plus the starting value and max_steps."""
    return sorted({s for s in STEPS_LADDER if s <= max_steps} | {int(steps), max_steps})


def setting(spec, name: str, steps: int, eta: float, scale: float, cls, seed: int) -> tuple:
    """The cache key of the controls' values: eta only where the sampler takes it, a bound student's own scale."""
    eta_used = float(eta) if spec.takes_eta else None
    fixed = spec.fixed_scale  # a distilled student's scale is baked in
    scale_used = None if cls == UNCOND else float(scale if fixed is None else fixed)
    return (name, int(steps), eta_used, scale_used, cls, seed)


def labels_for(cls, classes: tuple[int, ...], n: int) -> torch.Tensor | None:
    """Class labels for a batch of n: one class, `classes` in turn ('mixed'), or None (unconditional)."""
    if cls == UNCOND:
        return None
    if cls == MIXED:
        return torch.tensor(classes)[torch.arange(n) % len(classes)]
    return torch.full((n,), int(cls), dtype=torch.long)


def _guide(scale, cls, mixed: str) -> str:
    return UNCOND if scale is None else f"{mixed if cls == MIXED else f'class {cls}'}, scale {scale:g}"


def describe(key: tuple) -> str:
    """A setting in words, e.g. 'DDIM, 50 steps, eta 0, class 0, scale 10'."""
    name, steps, eta, scale, cls, _ = key
    return f"{name}, {steps} steps{'' if eta is None else f', eta {eta:g}'}, {_guide(scale, cls, 'mixed classes')}"


def title(key: tuple, taken_steps: int, nfe: int) -> str:
    """The figure's title: the setting, the distinct timesteps a sampler took where fewer than asked, and the NFE."""
    name, steps, _, scale, cls, _ = key
    # a sampler may visit fewer distinct timesteps than asked (Heun's Karras grid at 1000 steps)
    taken = "" if taken_steps == steps else f" ({taken_steps} distinct timesteps)"
    return f"{name} {steps} steps{taken}, {_guide(scale, cls, 'mixed')}, NFE {nfe}"


def neighbours(key: tuple, ladder: list[int], scale_fixed: bool) -> list[tuple]:
    """The settings a student is likely to ask for next: scale +- one slider step, steps +- one ladder rung."""
    name, steps, eta, scale, cls, seed = key
    keys = []
    if scale is not None and not scale_fixed:
        keys += [(name, steps, eta, s, cls, seed) for s in (scale + 0.5, scale - 0.5) if 0.0 <= s <= 30.0]
    if steps in ladder:
        i = ladder.index(steps)
        keys += [(name, ladder[j], eta, scale, cls, seed) for j in (i + 1, i - 1) if 0 <= j < len(ladder)]
    return [k for k in keys if k[1] <= PREFETCH_MAX_STEPS]
