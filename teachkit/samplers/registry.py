"""The one list of samplers: display name -> SamplerSpec. Widgets, benchmarks, the CLI, tests and lessons iterate over it.

Adding a sampler is one new file in teachkit/samplers/ and one entry here (plus its own tests).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from .ddim import ddim_sample
from .ddpm import ddpm_sample
from .distilled import distilled_sample
from .dpm_solver import dpm_solver_sample
from .euler import euler_sample
from .flow import flow_euler_sample, flow_heun_sample, flow_midpoint_sample
from .heun import heun_sample
from .prediction import model_kind

__all__ = ["SamplerSpec", "SAMPLERS", "samplers_for", "get_sampler", "spec_of"]


@dataclass(frozen=True)
class SamplerSpec:
    """What a consumer needs to know to call a sampler: fn(model, schedule, x_T, steps=..., *, y, [guidance_scale], generator, record, progress, callback)."""

    name: str  # the display name, shown everywhere (menus, tables, Trajectory.sampler)
    fn: Callable
    order: int  # order of accuracy as an ODE/SDE solver
    stochastic: bool  # fresh noise at every step (given x_T, the result still depends on the generator)
    takes_eta: bool  # has DDIM's eta keyword
    default_steps: int
    predictions: tuple[str, ...] = ("eps", "v")  # model kinds it accepts (prediction.model_kind)
    guided: bool = True  # has a guidance_scale keyword (False: the scale is baked into the model)
    evals_per_step: str = "1"  # network calls per step, per sample, before guidance doubles them
    description: str = ""
    takes_callback: bool = True  # the protocol's per-step callback (False only for a foreign function, see spec_of)
    model: object = None  # set by bind(): the network this entry always runs (a distilled student)
    fixed_scale: float | None = None  # set by bind(): the guidance scale baked into that network

    def accepts(self, model) -> bool:
        """True when this sampler can read `model`'s output."""
        return model_kind(model) in self.predictions

    def bind(self, model, guidance_scale: float | None = None) -> "SamplerSpec":
        """This entry tied to its own network, e.g. a distilled student with its baked-in scale: the bound `fn`
        runs `model` whatever model it is called with (an explorer holds the teacher), and drops a guidance_scale
        where this sampler has none."""
        run, guided = self.fn, self.guided

        def bound(_caller_model, schedule, x_T, steps=self.default_steps, *, callback=None, **kwargs):
            if not guided:
                kwargs.pop("guidance_scale", None)
            return run(model, schedule, x_T, steps=steps, callback=callback, **kwargs)

        bound.__name__ = bound.__qualname__ = f"{run.__name__}_bound"
        bound.__doc__ = run.__doc__
        scale = None if guidance_scale is None else float(guidance_scale)
        return replace(self, fn=bound, model=model, fixed_scale=scale)


SAMPLERS: dict[str, SamplerSpec] = {spec.name: spec for spec in (
    SamplerSpec("DDPM", ddpm_sample, order=1, stochastic=True, takes_eta=False, default_steps=1000,
                description="ancestral sampling, the posterior step of DDPM Eq. 6-7 (Ho et al. 2020)"),
    SamplerSpec("DDIM", ddim_sample, order=1, stochastic=False, takes_eta=True, default_steps=50,
                description="DDIM Eq. 12, deterministic at eta = 0 (Song, Meng, Ermon 2020)"),
    SamplerSpec("DPM-Solver++(2M)", dpm_solver_sample, order=2, stochastic=False, takes_eta=False, default_steps=20,
                description="second-order multistep in data prediction (Lu et al. 2022, Alg. 2)"),
    SamplerSpec("Euler", euler_sample, order=1, stochastic=False, takes_eta=False, default_steps=50,
                description="Euler on the probability-flow ODE in sigma (= DDIM, eta 0)"),
    SamplerSpec("Heun", heun_sample, order=2, stochastic=False, takes_eta=False, default_steps=18,
                evals_per_step="2 (1 on the last)", description="EDM Alg. 1 with Karras sigmas (Karras et al. 2022)"),
    SamplerSpec("Distilled", distilled_sample, order=1, stochastic=True, takes_eta=False, default_steps=4,
                predictions=("consistency",), guided=False,
                description="multistep consistency sampling of a distilled student on its grid (Song et al. 2023)"),
    # flow models (prediction "velocity", teachkit.flow): the schedule argument is their FlowPath
    SamplerSpec("Flow (Euler)", flow_euler_sample, order=1, stochastic=False, takes_eta=False, default_steps=20,
                predictions=("velocity",), description="Euler on dx/dt = v(x, t) from t = 1 to 0 (rectified flow)"),
    SamplerSpec("Flow (midpoint)", flow_midpoint_sample, order=2, stochastic=False, takes_eta=False, default_steps=10,
                predictions=("velocity",), evals_per_step="2", description="the explicit midpoint rule on the flow ODE"),
    SamplerSpec("Flow (Heun)", flow_heun_sample, order=2, stochastic=False, takes_eta=False, default_steps=10,
                predictions=("velocity",), evals_per_step="2",
                description="Heun (explicit trapezoid) on the flow ODE, EDM Alg. 1's step (Karras et al. 2022)"),
)}


def get_sampler(name: str) -> SamplerSpec:
    """The registry entry called `name`, with a clear error listing the names."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")
    return SAMPLERS[name]


def samplers_for(model) -> dict[str, SamplerSpec]:
    """The registry entries that can sample `model` (by its prediction, or as a distilled student), in menu order."""
    return {name: spec for name, spec in SAMPLERS.items() if spec.accepts(model)}


def spec_of(sampler, name: str = "custom") -> SamplerSpec:
    """A SamplerSpec as it is; a registry function as its registry entry; any other callable
    fn(model, schedule, x_T, steps=..., **keywords) as a plain guided entry without eta."""
    if isinstance(sampler, SamplerSpec):
        return sampler
    if not callable(sampler):
        raise TypeError(f"a sampler is a teachkit.SAMPLERS entry or a callable, got {type(sampler).__name__}")
    for spec in SAMPLERS.values():
        if spec.fn is sampler:
            return spec
    import inspect  # a foreign function says what it takes only through its signature

    params = inspect.signature(sampler).parameters
    return SamplerSpec(name, sampler, order=1, stochastic=False, takes_eta="eta" in params, default_steps=50,
                       predictions=("eps", "v", "velocity"), takes_callback="callback" in params,
                       description="a sampler given as a plain function")
