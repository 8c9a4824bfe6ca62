"""Conditional flow matching (Lipman et al. 2022; rectified flow, Liu et al. 2022) with CFG label dropout, on the one training loop.

The loss regresses the straight path's velocity: E || v_theta(x_t, t, y) - (eps - x_0) ||^2 with
t ~ U[0, 1] and x_t = (1 - t) x_0 + t eps (teachkit.flow.FlowPath). Minibatches, label dropout,
AdamW, clipping, EMA and checkpoints are teachkit.training.fit's, exactly as for the eps-models.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from teachkit.flow import FlowPath
from teachkit.runtime import pick_device
from teachkit.training.config import TrainConfig, config_for
from teachkit.training.loop import TrainResult, _check_data, fit

__all__ = ["flow_matching_loss", "train_flow", "check_flow_model", "PREDICTION"]

PREDICTION = "velocity"


def check_flow_model(net: nn.Module) -> nn.Module:
    """A flow model predicts a velocity in continuous t: built with prediction="velocity" and a time_scale."""
    if getattr(net, "prediction", "eps") != PREDICTION or getattr(net, "time_scale", None) is None:
        raise TypeError(f"{type(net).__name__} predicts {getattr(net, 'prediction', 'eps')!r} at "
                        f"{'integer timesteps' if getattr(net, 'time_scale', None) is None else 'continuous t'}; "
                        "a flow model is built with prediction='velocity', time_scale=1000.0 "
                        "(e.g. ToyMLP(num_classes=2, prediction='velocity', time_scale=1000.0))")
    return net


def flow_matching_loss(model: nn.Module, path: FlowPath, x0: torch.Tensor, y: torch.Tensor | None,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """CFM loss (Lipman et al. 2022, Eq. 9 with the OT path, Eq. 23, sigma_min = 0): || v_theta(x_t, t) - (eps - x_0) ||^2."""
    B = x0.shape[0]
    # t ~ U[0, 1], eps ~ N(0, I)
    t = torch.rand((B,), device=x0.device, generator=generator)
    eps = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
    # x_t = (1 - t) x_0 + t eps; target u_t = eps - x_0
    x_t = path.interpolate(x0, eps, t)
    return (model(x_t, t, y) - path.target_velocity(x0, eps)).pow(2).mean()


def train_flow(model: nn.Module, path: FlowPath, x: torch.Tensor, y: torch.Tensor | None = None, *,
               config: TrainConfig | None = None, progress: bool = True, callback: Callable | None = None,
               callback_every: int = 100, checkpoint_dir: str | Path | None = None, resume: bool = False,
               **settings) -> TrainResult:
    """Train a velocity model on the linear path with flow matching; the same config, keywords and loop as teachkit.training.train."""
    config = config_for("flow matching", config, settings)
    if not isinstance(path, FlowPath):
        raise TypeError(f"path must be a teachkit.flow.FlowPath, got {type(path).__name__} "
                        "(a NoiseSchedule trains an eps-model: use teachkit.training.train)")
    check_flow_model(model)
    _check_data(model, x, y)
    device = pick_device(config.device)
    gen = torch.Generator(device=device).manual_seed(config.seed)
    model = model.to(device).train()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    return fit(model, ema, lambda x0, y_in: flow_matching_loss(model, path, x0, y_in, gen), x, y, config,
               generator=gen, progress=progress, desc="flow", callback=callback, callback_every=callback_every,
               checkpoint_dir=checkpoint_dir, resume=resume, run_config={"path": path.name})
