"""Classifier-free guidance: one network, called with and without the label (Ho & Salimans 2022)."""
from __future__ import annotations

import torch

__all__ = ["cfg_combine", "guided_eps", "guidance_passes", "check_labels"]


def cfg_combine(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, scale: float) -> torch.Tensor:
    """eps_uncond + scale * (eps_cond - eps_uncond); scale 0 is unconditional, 1 conditional (CFG paper's w = scale - 1).

    Any real scale is allowed: negative scales push *away* from the label and very large ones
    over-amplify it (saturated, low-variety samples); both are worth seeing once.
    """
    if eps_uncond.shape != eps_cond.shape:
        raise ValueError(f"eps_uncond {tuple(eps_uncond.shape)} and eps_cond {tuple(eps_cond.shape)} differ in shape")
    # CFG Eq. (6) with w = scale - 1: (1 + w) eps_cond - w eps_uncond = eps_uncond + scale (eps_cond - eps_uncond)
    return eps_uncond + scale * (eps_cond - eps_uncond)


def guidance_passes(y, scale: float) -> int:
    """Network evaluations per sample per step: 2 for guided sampling, 1 without a label or at scale 0 or 1."""
    return 1 if (y is None or scale in (0, 1)) else 2


def check_labels(model: torch.nn.Module, y, batch: int, device: torch.device) -> torch.Tensor | None:
    """Validate labels against the model and return them as a LongTensor (B,) on `device` (an int is broadcast)."""
    if y is None:
        return None
    num_classes = getattr(model, "num_classes", None)
    if not num_classes:
        raise ValueError(
            f"y was given but {type(model).__name__} has no num_classes: it is unconditional, "
            "so sample it with y=None (and guidance_scale=1.0)"
        )
    if isinstance(y, bool) or not isinstance(y, (int, torch.Tensor)):
        raise TypeError(f"y must be an int or a LongTensor of shape (B,), got {type(y).__name__}")
    if isinstance(y, int):
        y = torch.full((batch,), y, dtype=torch.long)
    if y.dtype.is_floating_point or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"y must hold integer class labels (e.g. torch.long), got dtype {y.dtype}; use y.long()")
    if y.shape != (batch,):
        raise ValueError(f"y must have shape ({batch},) to match x_T, got {tuple(y.shape)}")
    null_label = getattr(model, "null_label", num_classes)
    lo, hi = int(y.min()), int(y.max())  # one check before sampling, never inside the loop
    if lo < 0 or hi > null_label:
        raise ValueError(
            f"labels must lie in 0 .. {num_classes - 1} (or {null_label}, the null label); got [{lo}, {hi}]"
        )
    return y.to(device=device, dtype=torch.long)


def guided_eps(model, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None, scale: float = 1.0, *,
               null_label: int | None = None) -> torch.Tensor:
    """Guided prediction from one batched forward pass over both halves (one half only at scale 0 or 1).

    The rule is linear, so it guides any output the same way (eps, v or a flow velocity); `model` is any
    callable model(x_t, t, y); `null_label` defaults to model.null_label.
    """
    if y is None:
        if scale != 1:
            raise ValueError(f"guidance_scale={scale} needs labels y: guidance compares eps with and without y")
        return model(x_t, t)
    if scale == 1:
        # the plain conditional model: no unconditional half needed
        return model(x_t, t, y)
    null = torch.full_like(y, model.null_label if null_label is None else null_label)
    if scale == 0:
        # unconditional sampling: the label is dropped entirely
        return model(x_t, t, null)
    # one forward over (2B, ...): first half with labels, second half with the null label
    eps_cond, eps_uncond = model(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([y, null])).chunk(2)
    return cfg_combine(eps_uncond, eps_cond, scale)
