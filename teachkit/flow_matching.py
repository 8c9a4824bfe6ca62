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
from teachkit.training import TrainResult, _check_data, fit

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
               steps: int = 1000, batch_size: int = 128, lr: float = 1e-3, weight_decay: float = 0.0,
               p_uncond: float = 0.1, ema_decay: float = 0.999, grad_clip: float | None = 1.0, warmup: int = 100,
               lr_decay: str = "cosine", seed: int = 0, device: str | torch.device | None = None,
               progress: bool = True, callback: Callable | None = None, callback_every: int = 100,
               checkpoint_dir: str | Path | None = None, checkpoint_every: int = 500,
               resume: bool = False) -> TrainResult:
    """Train a velocity model on the linear path with flow matching; the same keywords and loop as teachkit.training.train."""
    if not isinstance(path, FlowPath):
        raise TypeError(f"path must be a teachkit.flow.FlowPath, got {type(path).__name__} "
                        "(a NoiseSchedule trains an eps-model: use teachkit.training.train)")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps={steps!r}: training needs a positive integer number of steps")
    if not 0.0 <= p_uncond < 1.0:
        raise ValueError(f"p_uncond={p_uncond} must lie in [0, 1): it is the probability of dropping a label")
    if lr_decay not in ("cosine", "constant"):
        raise ValueError(f"lr_decay={lr_decay!r}; choose 'cosine' or 'constant'")
    check_flow_model(model)
    _check_data(model, x, y)
    device = pick_device(device)
    torch.manual_seed(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    model = model.to(device).train()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    return fit(model, ema, lambda x0, y_in: flow_matching_loss(model, path, x0, y_in, gen), x, y,
               null_label=getattr(model, "null_label", None), steps=steps, batch_size=batch_size, lr=lr,
               weight_decay=weight_decay, p_uncond=p_uncond, grad_clip=grad_clip, warmup=warmup, lr_decay=lr_decay,
               # EMA with warmup, as train(): decay_eff = min(decay, (1 + step) / (10 + step))
               ema_decay_at=lambda step: min(ema_decay, (1 + step) / (10 + step)),
               generator=gen, progress=progress, desc="flow", callback=callback, callback_every=callback_every,
               checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every, resume=resume)
