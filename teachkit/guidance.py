"""Classifier-free guidance: one network, called with and without the label (Ho & Salimans 2022)."""
from __future__ import annotations

import torch

from teachkit.labels import check_labels as _check_labels

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
    """Validate labels against the model and return them as a LongTensor (B,) on `device` (an int is broadcast; teachkit.labels)."""
    return _check_labels(y, getattr(model, "num_classes", None), batch, device=device, owner=type(model).__name__,
                         fix="sample it with y=None (and guidance_scale=1.0)", match="x_T")


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
