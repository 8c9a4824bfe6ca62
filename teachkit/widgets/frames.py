"""What the explorers sample and cache: Frames (a trajectory as numpy), the public samplers, input checks."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

__all__ = ["Frames", "default_samplers", "model_device", "check_start"]


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


def default_samplers() -> dict[str, Callable]:
    """The public teachkit samplers by display name (those that exist in this version)."""
    from .. import samplers

    names = {"DDPM": "ddpm_sample", "DDIM": "ddim_sample", "DPM-Solver++": "dpm_solver_sample"}
    return {label: getattr(samplers, fn) for label, fn in names.items() if hasattr(samplers, fn)}


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
