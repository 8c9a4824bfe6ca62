"""What the widgets keep of a sampled trajectory: Frames (CPU numpy arrays, indexed frame by frame), and the device a model samples on."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Frames", "model_device"]


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


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter or buffer (CPU when it has neither)."""
    for tensor in list(model.parameters())[:1] + list(model.buffers())[:1]:
        return tensor.device
    return torch.device("cpu")
