"""Class labels: the one check that sampling (guidance), a model's forward pass and training data all use.

A class-conditional model has `num_classes` real classes 0 .. num_classes-1 and one null label,
`num_classes`, meaning "no condition" (what CFG label dropout trains, Ho & Salimans 2022). Sampling
and a forward pass accept the null label; training data must hold real classes (dropout adds the nulls).
"""
from __future__ import annotations

import torch

__all__ = ["check_labels"]


def check_labels(y, num_classes: int | None, batch: int, *, device: torch.device | str | None = None,
                 null_ok: bool = True, owner: str = "this model", fix: str = "call it with y=None",
                 match: str = "x_t") -> torch.Tensor | None:
    """Validate labels y (an int, broadcast, or an integer tensor (batch,)) for `num_classes`; LongTensor (batch,) or None.

    `owner`, `fix` and `match` only shape the messages: who is unconditional, what to do instead, what y must match.
    """
    if y is None:
        return None
    if not num_classes:
        raise ValueError(f"labels y were given but {owner} is unconditional (num_classes=None): {fix}")
    if isinstance(y, bool) or not isinstance(y, (int, torch.Tensor)):
        raise TypeError(f"y must be an int or a LongTensor of class labels with shape (B,), got {type(y).__name__}")
    if isinstance(y, int):
        y = torch.full((batch,), y, dtype=torch.long, device=device)
    if y.dtype.is_floating_point or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"y must hold integer class labels (e.g. torch.long), got dtype {y.dtype}; use y.long()")
    if y.shape != (batch,):
        raise ValueError(f"y must have shape ({batch},) to match {match}, got {tuple(y.shape)}")
    if y.numel():
        lo, hi = int(y.min()), int(y.max())  # one host sync, before any loop
        if null_ok and (lo < 0 or hi > num_classes):
            raise ValueError(f"labels must lie in 0 .. {num_classes - 1}, or be the null label {num_classes} for "
                             f"'no condition'; got range [{lo}, {hi}]")
        if not null_ok and (lo < 0 or hi >= num_classes):
            raise ValueError(f"labels must lie in 0 .. {num_classes - 1}, got range [{lo}, {hi}] (training data holds "
                             f"real classes; label dropout adds the null label {num_classes} itself)")
    return y.to(device=y.device if device is None else device, dtype=torch.long)
