"""The metric classifier's objective on the one loop: affine-jittered digits, cross-entropy (teachkit.training.fit does the rest).

MnistClassifier (teachkit.models) drives the sample-quality metrics; torch's affine_grid/grid_sample do the jitter.
"""
from __future__ import annotations

import copy
import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from teachkit.runtime import pick_device
from teachkit.training.config import TrainConfig, config_for
from teachkit.training.loop import TrainResult, _check_data, fit

__all__ = ["augment", "classifier_loss", "train_classifier"]


def augment(x: torch.Tensor, generator: torch.Generator, max_shift: float = 2.0, max_rot_deg: float = 10.0,
            scale: float = 0.1) -> torch.Tensor:
    """Random small affine jitter of (B, 1, 28, 28) images in [-1, 1] (shift, rotation, zoom), background kept at -1."""
    B, dev = x.shape[0], x.device
    u = torch.rand(B, 4, device=dev, generator=generator) * 2 - 1
    angle = u[:, 0] * math.radians(max_rot_deg)
    zoom = 1.0 + u[:, 1] * scale
    # shifts in grid units: 2 / 28 per pixel
    tx, ty = u[:, 2] * max_shift * 2 / 28, u[:, 3] * max_shift * 2 / 28
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # shift to [0, 2] so zero padding means background (-1), then back
    return F.grid_sample(x + 1.0, grid, align_corners=False, padding_mode="zeros") - 1.0


def classifier_loss(model: nn.Module, generator: torch.Generator) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The classification objective's loss_fn for teachkit.training.fit: cross-entropy on affine-jittered digits."""
    return lambda x0, y: F.cross_entropy(model(augment(x0, generator)), y)


def train_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, config: TrainConfig | None = None,
                     progress: bool = True, checkpoint_dir=None, resume: bool = False, **settings) -> TrainResult:
    """Train the metric classifier on the one loop (fit) with classifier_loss: AdamW, cosine lr to 0, no EMA.

    `config` defaults to default_config("classification"); keyword `settings` (steps=, lr=, seed=, ...) replace its
    fields. Returns fit's TrainResult; with ema_decay 0 its ema_model equals the trained model.
    """
    config = config_for("classification", config, settings)
    if y is None:
        raise ValueError("the classifier learns from labels: give y, the digits' classes")
    _check_data(model, x, y)
    device = pick_device(config.device)
    gen = torch.Generator(device=device).manual_seed(config.seed)
    model = model.to(device).train()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    result = fit(model, ema, classifier_loss(model, gen), x, y, config, generator=gen, progress=progress,
                 desc="classifier", checkpoint_dir=checkpoint_dir, resume=resume)
    model.eval()
    return result
