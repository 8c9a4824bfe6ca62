"""What the explorers sample and cache: Frames (a trajectory as numpy), the public samplers, input checks."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

__all__ = ["Frames", "ALIASES", "default_samplers", "student_sampler", "fixed_scale", "model_device", "check_start"]


@dataclass(frozen=True)
class Frames:
    """A recorded trajectory as CPU numpy arrays, ready to be indexed frame by frame."""

    xs: np.ndarray  # (S + 1, B, ...) x_T first
    x0_hats: np.ndarray  # (S, B, ...)
    timesteps: np.ndarray  # (S,)
    nfe: int
    labels: np.ndarray | None  # (B,) or None when unconditional
    seconds: float  # wall time of the sampler call

    @property
    def steps(self) -> int:
        """Number of sampler steps S (frames are 0 .. S)."""
        return len(self.timesteps)

    @property
    def nbytes(self) -> int:
        """Memory held by the recorded arrays."""
        return self.xs.nbytes + self.x0_hats.nbytes


# names the explorers took before the sampler registry, still accepted as `sampler=`
ALIASES = {"DPM-Solver++": "DPM-Solver++(2M)"}


def default_samplers(model=None) -> dict[str, "SamplerSpec"]:
    """The registry's entries that take a guidance scale, by display name: those that can sample `model`
    (samplers_for), or without a model those for a noise (eps) predictor.

    A distilled student is not among them: add it with `student_sampler(student, scale)`.
    """
    from ..samplers import SAMPLERS, samplers_for

    specs = {n: s for n, s in SAMPLERS.items() if "eps" in s.predictions} if model is None else samplers_for(model)
    return {name: spec for name, spec in specs.items() if spec.guided}


def student_sampler(student: torch.nn.Module, guidance_scale: float) -> "SamplerSpec":
    """A distilled student as an explorer sampler: the registry's Distilled entry bound to `student` (SamplerSpec.bind).

    It runs distilled_sample(student, ...) whatever model the explorer holds. `guidance_scale` is the scale baked
    in at distillation (the student's info["guidance_scale"]); the explorer shows it and greys out its scale
    slider, as the student has no other.
    """
    from ..samplers import SAMPLERS
    from ..samplers.distilled import check_student

    check_student(student)
    if isinstance(guidance_scale, bool) or not isinstance(guidance_scale, (int, float)):
        raise TypeError(f"guidance_scale must be the student's baked-in scale (a number), got {guidance_scale!r}")
    return SAMPLERS["Distilled"].bind(student, guidance_scale)


def fixed_scale(sampler) -> float | None:
    """The guidance scale a sampler cannot change (a bound student's), or None when the slider sets it."""
    from ..samplers import spec_of

    return spec_of(sampler).fixed_scale


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter or buffer (CPU when it has neither)."""
    for tensor in list(model.parameters())[:1] + list(model.buffers())[:1]:
        return tensor.device
    return torch.device("cpu")


def check_start(steps: int, eta: float, scale: float, max_steps: int) -> None:
    """Starting values must fit the sliders (a slider would silently clamp them)."""
    if not 1 <= steps <= max_steps:
        raise ValueError(f"steps={steps}: the steps slider runs from 1 to {max_steps} (at most T)")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta={eta}: eta runs from 0 (deterministic DDIM) to 1 (DDPM-like noise)")
    if not 0.0 <= scale <= 30.0:
        raise ValueError(f"scale={scale}: the guidance slider runs from 0 (unconditional) to 30")
