"""What every sampler shares, and only that: the Trajectory it returns, input checks, and recording.

Each sampler owns its loop (as in k-diffusion and EDM); the network is read through
`prediction.Denoiser`, which counts calls, so `Trajectory.nfe` is counted. tqdm draws the progress bar.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from ..schedules import NoiseSchedule

__all__ = ["Trajectory", "Step", "Recorder", "check_inputs", "check_start", "check_steps", "randn_like", "sqrt", "check_eta",
           "check_step_inputs"]


@dataclass(frozen=True)
class Trajectory:
    """A sampling run: the final sample, and (when recorded) every x_t and x0_hat along the way."""

    sample: torch.Tensor  # (B, ...) the final x_0
    timesteps: torch.Tensor  # (S,) the timesteps visited, descending; the last step goes to "clean"
    nfe: int  # network evaluations per sample, counted (a guided call counts 2)
    xs: torch.Tensor | None = None  # (S + 1, B, ...) x_T first, the final sample last
    x0_hats: torch.Tensor | None = None  # (S, B, ...) the clean-sample prediction at each step
    sampler: str = ""  # the registry's display name (teachkit.SAMPLERS)

    @property
    def steps(self) -> int:
        """Number of sampler steps S."""
        return int(self.timesteps.shape[0])


@dataclass(frozen=True)
class Step:
    """What a sampler hands its `callback` after each step: x_prev and x0_hat just computed (tensors on x_T's device)."""

    i: int  # 0-based step index
    steps: int  # total number of steps S
    t: int  # the timestep this step left
    x: torch.Tensor  # (B, ...) the new x (x_prev), the final sample after the last step
    x0_hat: torch.Tensor  # (B, ...) the clean-sample prediction made at t


def sqrt(v):
    """Square root of a Python float or a tensor (step functions accept both)."""
    return math.sqrt(v) if isinstance(v, (int, float)) else torch.sqrt(v)


def randn_like(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal noise shaped like x, on x's device, drawn from `generator` wherever it lives."""
    if generator is None:
        return torch.randn_like(x)
    noise = torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype)
    return noise.to(x.device)


def check_eta(eta: float) -> float:
    """eta must be a real number in [0, 1] (DDIM Eq. 16: 0 deterministic, 1 DDPM-like)."""
    if isinstance(eta, bool) or not isinstance(eta, (int, float)):
        raise TypeError(f"eta must be a float in [0, 1], got {type(eta).__name__}")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta={eta} is outside [0, 1]: 0 is deterministic DDIM, 1 has DDPM's variance")
    return float(eta)


def check_steps(steps, most: int | None = None) -> int:
    """steps must be a positive integer (at most `most`, e.g. T)."""
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise TypeError(f"steps must be an int, got {type(steps).__name__}")
    if steps < 1:
        raise ValueError(f"steps={steps}: a sampler needs at least one step")
    if most is not None and steps > most:
        raise ValueError(f"steps={steps} is more than the {most} timesteps there are to visit")
    return steps


def check_step_inputs(x_t: torch.Tensor, eps: torch.Tensor | None, alpha_bar_t, alpha_bar_prev, name: str) -> None:
    """A single step's checks: eps shaped like x_t (no silent broadcasting) and 0 <= alpha_bar_t < 1, alpha_bar_t <= alpha_bar_prev <= 1."""
    if eps is not None and isinstance(eps, torch.Tensor) and isinstance(x_t, torch.Tensor) and eps.shape != x_t.shape:
        raise ValueError(f"{name}: eps has shape {tuple(eps.shape)} but x_t has {tuple(x_t.shape)}; they must match "
                         "(no broadcasting: one noise value per entry of x_t)")
    for label, v in (("alpha_bar_t", alpha_bar_t), ("alpha_bar_prev", alpha_bar_prev)):
        if isinstance(v, bool) or not isinstance(v, (int, float, torch.Tensor)):
            raise TypeError(f"{name}: {label} must be a float (e.g. schedule.alpha_bar_at(t)), got {type(v).__name__}")
    if isinstance(alpha_bar_t, torch.Tensor) or isinstance(alpha_bar_prev, torch.Tensor):
        return  # per-sample tensors (distillation targets): checked by their caller, no host sync here
    if not (0.0 <= alpha_bar_t < 1.0):
        raise ValueError(f"{name}: alpha_bar_t={alpha_bar_t} must lie in [0, 1): it is a product of (1 - beta) at a noisy "
                         "timestep (1 would be a clean x_t with nothing to denoise; use schedule.alpha_bar_at(t))")
    if not (alpha_bar_t <= alpha_bar_prev <= 1.0):
        raise ValueError(f"{name}: alpha_bar_prev={alpha_bar_prev} must lie in [alpha_bar_t={alpha_bar_t}, 1]: prev is "
                         "the less noisy timestep (1.0 for 'clean', prev = -1)")


def check_inputs(model, schedule, x_T, guidance_scale) -> None:
    """The checks every sampler runs once, before its loop (never inside it)."""
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"schedule must be a teachkit NoiseSchedule, got {type(schedule).__name__}")
    check_start(model, x_T, guidance_scale)


def check_start(model, x_T, guidance_scale) -> None:
    """The checks of x_T (type, dtype and device against the model, shape, finiteness) and of the guidance scale."""
    if not isinstance(x_T, torch.Tensor):
        hint = "; convert it with torch.from_numpy(x_T).float()" if type(x_T).__module__ == "numpy" else ""
        raise TypeError(f"x_T must be a torch.Tensor, got {type(x_T).__name__}{hint}")
    if not x_T.is_floating_point():
        raise TypeError(f"x_T must be a floating-point tensor, got dtype {x_T.dtype}")
    weight = next(model.parameters(), None) if isinstance(model, torch.nn.Module) else None
    if weight is not None and weight.is_floating_point() and x_T.dtype != weight.dtype:
        raise TypeError(f"x_T is {x_T.dtype} but {type(model).__name__}'s weights are {weight.dtype}: make them match, "
                        f"e.g. x_T = x_T.to({weight.dtype}) (or model.to({x_T.dtype}))")
    if weight is not None and x_T.device != weight.device:
        raise ValueError(f"x_T is on {x_T.device} but {type(model).__name__} is on {weight.device}: move one, "
                         f"e.g. x_T = x_T.to('{weight.device}')")
    if x_T.ndim < 2 or x_T.shape[0] < 1:
        raise ValueError(f"x_T must be a batch (B, ...) with B >= 1, got shape {tuple(x_T.shape)}")
    expected = getattr(model, "sample_shape", None)
    if expected is not None and tuple(x_T.shape[1:]) != tuple(expected):
        raise ValueError(
            f"x_T has sample shape {tuple(x_T.shape[1:])} but {type(model).__name__} expects "
            f"{tuple(expected)}: make x_T with shape (B, {', '.join(map(str, expected))})"
        )
    if not bool(torch.isfinite(x_T).all()):
        raise ValueError("x_T contains NaN or inf: start from finite Gaussian noise, e.g. torch.randn")
    if isinstance(guidance_scale, bool) or not isinstance(guidance_scale, (int, float)) \
            or not math.isfinite(guidance_scale):
        raise TypeError(f"guidance_scale must be a finite real number, got {guidance_scale!r}")


class Recorder:
    """Collects x_T, every x_prev and x0_hat (when `record`), drives the progress bar and calls `callback(Step)` per step."""

    def __init__(self, x_T: torch.Tensor, timesteps: list[int], *, record: bool = True, progress: bool = False,
                 callback: Callable[[Step], object] | None = None, name: str = "") -> None:
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable as callback(step), got {type(callback).__name__}")
        self.timesteps, self.record, self.callback, self.name = list(timesteps), record, callback, name
        self.progress = progress
        self.xs, self.x0_hats = [x_T], []

    def pairs(self) -> Iterator[tuple[int, int, int]]:
        """(i, t, prev) for each step; "prev" is the next visited timestep, -1 (clean) after the last."""
        prevs = self.timesteps[1:] + [-1]
        items = list(enumerate(zip(self.timesteps, prevs)))
        if self.progress:
            from tqdm.auto import tqdm

            items = tqdm(items, desc=self.name or "sampling", leave=False)
        for i, (t, prev) in items:
            yield i, t, prev

    def step(self, i: int, t: int, x: torch.Tensor, x0_hat: torch.Tensor) -> None:
        """Record step i (from timestep t) and tell the callback."""
        if self.record:
            self.xs.append(x)
            self.x0_hats.append(x0_hat)
        if self.callback is not None:
            self.callback(Step(i, len(self.timesteps), t, x, x0_hat))

    def trajectory(self, sample: torch.Tensor, nfe: int) -> Trajectory:
        """The Trajectory of this run (with a RuntimeWarning when the sample is not finite: one check, after the loop)."""
        if not bool(torch.isfinite(sample).all()):
            warnings.warn(f"{self.name or 'the sampler'} returned NaN or inf in {int((~torch.isfinite(sample)).sum())} "
                          "sample values: an extreme guidance_scale or a schedule whose alpha_bar is ~0 at the first "
                          "step overflows; lower the scale or start at a smaller t", RuntimeWarning, stacklevel=3)
        return Trajectory(
            sample=sample,
            timesteps=torch.tensor(self.timesteps, dtype=torch.long),
            nfe=int(nfe),
            xs=torch.stack(self.xs) if self.record else None,
            x0_hats=torch.stack(self.x0_hats) if self.record else None,
            sampler=self.name,
        )
