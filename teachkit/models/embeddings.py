"""Embeddings shared by the models: sinusoidal time features (Vaswani et al. 2017; DDPM Sec. 4) and class labels with a null label (Ho & Salimans 2022).

Two kinds of time: the eps-models take integer timesteps 0 .. T-1; a continuous-time model (a flow
model, teachkit.flow) takes float t in [0, 1] and embeds time_scale * t with the same features.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from teachkit.labels import check_labels

__all__ = ["sinusoidal_embedding", "TimestepEmbedding", "LabelEmbedding", "check_t", "check_continuous_t", "check_y",
           "embed_time"]


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer sinusoidal features of timesteps t (B,), integer or real, -> (B, dim) (Vaswani et al. 2017, Sec. 3.5)."""
    if dim % 2:
        raise ValueError(f"embedding dim must be even, got {dim}")
    half = dim // 2
    # freq_i = max_period^(-i / half), i = 0 .. half-1
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    # (B, half): t * freq_i
    args = t.to(torch.float32)[:, None] * freqs[None, :]
    # (B, dim): [cos, sin]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class TimestepEmbedding(nn.Module):
    """Sinusoidal features of t followed by a 2-layer MLP (DDPM's time embedding)."""

    def __init__(self, dim: int, hidden: int | None = None):
        super().__init__()
        self.dim = dim
        hidden = hidden or dim
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_embedding(t, self.dim))


class LabelEmbedding(nn.Module):
    """A learned vector per class plus one for the null label `num_classes` (classifier-free guidance)."""

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.num_classes = num_classes
        self.null_label = num_classes
        self.table = nn.Embedding(num_classes + 1, dim)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.table(y)


def check_t(x_t: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
    """Validate the timestep argument of an eps-model and return it as a LongTensor (B,)."""
    B = x_t.shape[0]
    if isinstance(t, int) and not isinstance(t, bool):
        t = torch.full((B,), t, dtype=torch.long, device=x_t.device)
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"t must be a LongTensor of shape (B,) (or an int), got {type(t).__name__}")
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise TypeError(f"t must hold integer timesteps 0 .. T-1, got dtype {t.dtype}; use t.long()")
    if t.ndim == 0:
        t = t.expand(B)
    if t.shape != (B,):
        raise ValueError(f"t must have shape (B,) = ({B},) to match x_t, got {tuple(t.shape)}")
    return t.to(x_t.device)


def check_continuous_t(x_t: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Validate the time argument of a continuous-time model: float t in [0, 1], a number or a tensor (B,) -> float tensor (B,)."""
    B = x_t.shape[0]
    if isinstance(t, (int, float)) and not isinstance(t, bool):
        t = torch.full((B,), float(t), dtype=torch.float32, device=x_t.device)
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"t must be a float tensor of shape (B,) (or a number) in [0, 1], got {type(t).__name__}")
    if not t.dtype.is_floating_point:
        raise TypeError(f"this continuous-time model takes float t in [0, 1], got dtype {t.dtype} (integer timesteps "
                        "0 .. T-1 belong to the eps-models); use t.float() / T")
    if t.ndim == 0:
        t = t.expand(B)
    if t.shape != (B,):
        raise ValueError(f"t must have shape (B,) = ({B},) to match x_t, got {tuple(t.shape)}")
    if t.numel() and not bool(((t >= 0) & (t <= 1)).all()):
        raise ValueError(f"t must lie in [0, 1] (0 = data, 1 = noise), got range [{float(t.min()):g}, {float(t.max()):g}]")
    return t.to(x_t.device)


def _time_scale(time_scale, config: dict, prediction: str = "eps") -> float | None:
    """Validate a model's time_scale (None: integer timesteps) and record it in `config` when set; a flow model needs one."""
    if time_scale is None:
        if prediction == "velocity":
            raise ValueError("a flow model (prediction='velocity') takes continuous t in [0, 1]: give it a time_scale, "
                             "e.g. time_scale=1000.0, so its time features span the same range as T = 1000 timesteps")
        return None
    if isinstance(time_scale, bool) or not isinstance(time_scale, (int, float)) or not time_scale > 0:
        raise ValueError(f"time_scale must be a positive number (continuous t in [0, 1]) or None, got {time_scale!r}")
    config["time_scale"] = float(time_scale)
    return float(time_scale)


def embed_time(x_t: torch.Tensor, t, time_scale: float | None) -> torch.Tensor:
    """The (B,) times a model's TimestepEmbedding sees: integer t for the eps-models (time_scale None), time_scale * t for continuous t."""
    if time_scale is None:
        return check_t(x_t, t)
    # continuous t in [0, 1] is spread over the same range of features as integer timesteps
    return check_continuous_t(x_t, t) * time_scale


def check_y(x_t: torch.Tensor, y: torch.Tensor | int | None, num_classes: int | None) -> torch.Tensor | None:
    """Validate class labels y (B,) for a model with num_classes (None = unconditional); None -> null labels (teachkit.labels)."""
    if y is None and num_classes is not None:
        # no condition: every row gets the null label (what label dropout trains)
        return torch.full((x_t.shape[0],), num_classes, dtype=torch.long, device=x_t.device)
    return check_labels(y, num_classes, x_t.shape[0], device=x_t.device)
