"""ToyMLP: an eps-predictor for 2-D data with a sinusoidal time embedding and an optional class embedding (DDPM; Ho & Salimans 2022)."""
from __future__ import annotations

import torch
from torch import nn

from teachkit.models.embeddings import LabelEmbedding, TimestepEmbedding, _time_scale, check_y, embed_time
from teachkit.models.outputs import check_output_kind, output_config

__all__ = ["ToyMLP"]


class ToyMLP(nn.Module):
    """eps_theta(x_t, t, y) for 2-D points: MLP on [x_t, time embedding (+ class embedding)] with residual hidden layers."""

    def __init__(self, dim: int = 2, hidden: int = 128, layers: int = 3, emb_dim: int = 64, num_classes: int | None = None,
                 prediction: str = "eps", grid: tuple[int, ...] | None = None,
                 time_scale: float | None = None):
        super().__init__()
        if layers < 1 or hidden < 1:
            raise ValueError(f"ToyMLP needs layers >= 1 and hidden >= 1, got layers={layers}, hidden={hidden}")
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"num_classes must be >= 1 or None (unconditional), got {num_classes}")
        self.config = dict(dim=dim, hidden=hidden, layers=layers, emb_dim=emb_dim, num_classes=num_classes)
        self.prediction, self.grid = check_output_kind(prediction, grid)
        self.config.update(output_config(self.prediction, self.grid))
        self.time_scale = _time_scale(time_scale, self.config, self.prediction)
        self.sample_shape = (dim,)
        self.num_classes = num_classes
        self.null_label = num_classes
        self.time_emb = TimestepEmbedding(emb_dim, hidden)
        self.label_emb = LabelEmbedding(num_classes, hidden) if num_classes is not None else None
        self.inp = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList(nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden)) for _ in range(layers))
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, x_t: torch.Tensor, t, y=None) -> torch.Tensor:
        """Predict the noise eps in x_t (B, dim) at timesteps t (B,) for labels y (B,) or None (null label).

        With time_scale set, t is continuous in [0, 1] (a flow model, prediction='velocity', teachkit.flow).
        """
        if not isinstance(x_t, torch.Tensor) or x_t.ndim != 2 or x_t.shape[1] != self.sample_shape[0]:
            shape = tuple(x_t.shape) if isinstance(x_t, torch.Tensor) else type(x_t).__name__
            raise ValueError(f"ToyMLP expects x_t of shape (B, {self.sample_shape[0]}), got {shape}")
        t = embed_time(x_t, t, self.time_scale)
        y = check_y(x_t, y, self.num_classes)
        # (B, hidden): the condition c = emb(t) (+ emb(y))
        c = self.time_emb(t)
        if self.label_emb is not None:
            c = c + self.label_emb(y)
        h = self.inp(x_t) + c
        for block in self.blocks:
            # residual layer: h <- h + W silu(h + c)
            h = h + block(h + c)
        return self.out(h)
