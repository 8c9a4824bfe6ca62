"""The explorers' sampler menu: which registry samplers a model can take, a distilled student as one more entry, old names.

The entries are teachkit.samplers.SAMPLERS' SamplerSpecs (the one registry); this module only picks and binds them.
"""
from __future__ import annotations

import torch

__all__ = ["ALIASES", "default_samplers", "student_sampler", "fixed_scale"]

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
