"""Speed benchmarks as ratios measured in one run: sampler vs bare forwards, teachkit vs diffusers, guided vs not."""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch
from torch import nn

from ..guidance import cfg_combine
from ..samplers import ddim_sample, ddim_step, ddpm_sample, dpm_solver_sample
from ..schedules import NoiseSchedule, timesteps

__all__ = ["time_interleaved", "sampler_vs_bare", "teachkit_vs_diffusers", "guided_vs_unguided", "step_overhead"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(fns: dict[str, Callable[[], object]], repeats: int, device: torch.device,
                     min_seconds: float = 0.0, max_rounds: int = 200) -> dict:
    """Run each function once to warm up, then rounds in turn: at least `repeats`, and more (up to `max_rounds`)
    until every function has run for `min_seconds` in all; seconds per call (median, min, all)."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    rounds = 0
    while rounds < repeats or (rounds < max_rounds and min(sum(v) for v in times.values()) < min_seconds):
        for name, fn in fns.items():
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
        rounds += 1
    return {k: {"median_s": statistics.median(v), "min_s": min(v), "rounds": len(v), "all_s": v}
            for k, v in times.items()}


def _ratio(times: dict, a: str, b: str) -> dict:
    return {"median": times[a]["median_s"] / times[b]["median_s"], "min": times[a]["min_s"] / times[b]["min_s"]}


@torch.no_grad()
def bare_forwards(model: nn.Module, x: torch.Tensor, ts: torch.Tensor, y=None) -> None:
    """The physical limit of a sampler: the same number of network evaluations and nothing else."""
    t_batches = [torch.full((x.shape[0],), int(t), device=x.device, dtype=torch.long) for t in ts]
    for t in t_batches:
        model(x, t, y)


def sampler_vs_bare(model: nn.Module, schedule: NoiseSchedule, batch: int, steps: int, repeats: int,
                    device: torch.device, min_seconds: float = 0.0) -> dict:
    """DDIM-steps time (record=False) / time of `steps` bare forwards at the same batch."""
    model = model.to(device).eval()
    x_T = torch.randn((batch, *model.sample_shape), generator=torch.Generator().manual_seed(0)).to(device)
    ts = timesteps(schedule.T, steps, "trailing")
    times = time_interleaved({
        "ddim": lambda: ddim_sample(model, schedule, x_T, steps, record=False),
        "ddim_record": lambda: ddim_sample(model, schedule, x_T, steps, record=True),
        "bare_forwards": lambda: bare_forwards(model, x_T, ts),
    }, repeats, device, min_seconds)
    return {"sampler": f"DDIM-{steps}", "batch": batch, "times": times,
            "ratio": _ratio(times, "ddim", "bare_forwards"),
            "ratio_record": _ratio(times, "ddim_record", "bare_forwards")}


@torch.no_grad()
def _diffusers_loop(scheduler, model: nn.Module, x: torch.Tensor, steps: int, generator=None) -> torch.Tensor:
    """A diffusers sampling loop: set_timesteps, then model + scheduler.step per timestep."""
    scheduler.set_timesteps(steps, device=x.device)
    for t in scheduler.timesteps:
        eps = model(x, torch.full((x.shape[0],), int(t), device=x.device, dtype=torch.long))
        kw = {"generator": generator} if generator is not None else {}
        x = scheduler.step(eps, t, x, **kw).prev_sample
    return x


def teachkit_vs_diffusers(model: nn.Module, schedule: NoiseSchedule, batch: int, repeats: int, device: torch.device,
                          ddim_steps: int = 50, ddpm_steps: int = 100, dpm_steps: int = 20,
                          min_seconds: float = 0.0) -> dict:
    """teachkit's samplers vs diffusers' DDIM/DDPM/DPM-Solver++(2M) schedulers driving the same model (trailing)."""
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    model = model.to(device).eval()
    x_T = torch.randn((batch, *model.sample_shape), generator=torch.Generator().manual_seed(0)).to(device)
    # the same betas, so both sides sample the same model on the same schedule
    common = dict(num_train_timesteps=schedule.T, trained_betas=schedule.betas.numpy(), timestep_spacing="trailing")
    ddim = DDIMScheduler(**common, clip_sample=False, set_alpha_to_one=True)
    ddpm = DDPMScheduler(**common, clip_sample=False, variance_type="fixed_small")
    dpm = DPMSolverMultistepScheduler(**common, algorithm_type="dpmsolver++", solver_order=2,
                                      solver_type="midpoint", final_sigmas_type="zero")
    gen = lambda: torch.Generator(device=device).manual_seed(1)  # noqa: E731
    out = {"batch": batch}
    cases = {
        f"DDIM-{ddim_steps}": (lambda: ddim_sample(model, schedule, x_T, ddim_steps, record=False),
                               lambda: _diffusers_loop(ddim, model, x_T, ddim_steps)),
        f"DDPM-{ddpm_steps}": (lambda: ddpm_sample(model, schedule, x_T, steps=ddpm_steps, generator=gen(), record=False),
                               lambda: _diffusers_loop(ddpm, model, x_T, ddpm_steps, generator=gen())),
        f"DPM-Solver++(2M)-{dpm_steps}": (lambda: dpm_solver_sample(model, schedule, x_T, dpm_steps, record=False),
                                          lambda: _diffusers_loop(dpm, model, x_T, dpm_steps)),
    }
    nfes = {f"DDIM-{ddim_steps}": ddim_steps, f"DDPM-{ddpm_steps}": ddpm_steps,
            f"DPM-Solver++(2M)-{dpm_steps}": dpm_steps}
    for name, (ours, theirs) in cases.items():
        ts = timesteps(schedule.T, nfes[name], "trailing")
        times = time_interleaved({"teachkit": ours, "diffusers": theirs,
                                  "bare_forwards": lambda: bare_forwards(model, x_T, ts)}, repeats, device, min_seconds)
        out[name] = {"times": times, "ratio_teachkit_over_diffusers": _ratio(times, "teachkit", "diffusers"),
                     # the best any sampler could score: the network evaluations alone, over diffusers' time
                     "ratio_bare_over_diffusers": _ratio(times, "bare_forwards", "diffusers")}
    return out


@torch.no_grad()
def _unbatched_cfg_ddim(model: nn.Module, schedule: NoiseSchedule, x_T: torch.Tensor, steps: int, y, scale: float):
    """Guided DDIM with two separate forward passes per step (what batching CFG saves)."""
    ts = timesteps(schedule.T, steps, "trailing").tolist()
    null = torch.full_like(y, model.null_label)
    x = x_T
    for t, prev in zip(ts, ts[1:] + [-1]):
        t_b = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
        eps = cfg_combine(model(x, t_b, null), model(x, t_b, y), scale)
        x, _ = ddim_step(x, eps, schedule.alpha_bar_at(t), schedule.alpha_bar_at(prev))
    return x


def guided_vs_unguided(model: nn.Module, schedule: NoiseSchedule, batch: int, steps: int, repeats: int,
                       device: torch.device, scale: float = 3.0, min_seconds: float = 0.0) -> dict:
    """Per-step time of guided DDIM (one batched 2B pass) vs unguided (scale 1) vs two separate passes."""
    model = model.to(device).eval()
    x_T = torch.randn((batch, *model.sample_shape), generator=torch.Generator().manual_seed(0)).to(device)
    y = (torch.arange(batch) % model.num_classes).to(device)
    times = time_interleaved({
        "unguided": lambda: ddim_sample(model, schedule, x_T, steps, y=y, guidance_scale=1.0, record=False),
        "guided_batched": lambda: ddim_sample(model, schedule, x_T, steps, y=y, guidance_scale=scale, record=False),
        "guided_two_passes": lambda: _unbatched_cfg_ddim(model, schedule, x_T, steps, y, scale),
    }, repeats, device, min_seconds)
    for v in times.values():
        v["per_step_ms"] = 1000 * v["median_s"] / steps
    return {"sampler": f"DDIM-{steps}", "batch": batch, "scale": scale, "times": times,
            "ratio_guided_over_unguided": _ratio(times, "guided_batched", "unguided"),
            "ratio_batched_over_two_passes": _ratio(times, "guided_batched", "guided_two_passes")}


class _NearlyFreeNet(nn.Module):
    """A stand-in eps-model that costs almost nothing (eps = 0.1 x), so a loop's time is the sampler's own."""

    def __init__(self, sample_shape: tuple[int, ...]):
        super().__init__()
        self.sample_shape = sample_shape

    def forward(self, x: torch.Tensor, t: torch.Tensor, y=None) -> torch.Tensor:
        return 0.1 * x


def step_overhead(schedule: NoiseSchedule, batch: int, steps: int, repeats: int, device: torch.device,
                  min_seconds: float = 0.0, sample_shape: tuple[int, ...] = (2,)) -> dict:
    """Microseconds per step that DDIM adds around the network call: teachkit vs diffusers' DDIMScheduler."""
    from diffusers import DDIMScheduler

    model = _NearlyFreeNet(sample_shape).to(device)
    x_T = torch.randn((batch, *sample_shape), generator=torch.Generator().manual_seed(0)).to(device)
    ddim = DDIMScheduler(num_train_timesteps=schedule.T, trained_betas=schedule.betas.numpy(),
                         timestep_spacing="trailing", clip_sample=False, set_alpha_to_one=True)
    times = time_interleaved({
        "teachkit": lambda: ddim_sample(model, schedule, x_T, steps, record=False),
        "diffusers": lambda: _diffusers_loop(ddim, model, x_T, steps),
    }, repeats, device, min_seconds)
    return {"sampler": f"DDIM-{steps}", "batch": batch, "times": times,
            "us_per_step": {k: 1e6 * v["median_s"] / steps for k, v in times.items()}}
