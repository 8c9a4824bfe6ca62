"""Exact eps-predictors for Gaussian mixtures: small, deterministic test models for the widget tests."""
from __future__ import annotations

import math

import torch
from torch import nn

from teachkit.schedules import NoiseSchedule, linear_schedule


class MixtureEps(nn.Module):
    """The exact eps(x_t, t, y) of a class-labelled Gaussian mixture, eps = -sqrt(1 - alpha_bar) * score (DDPM Eq. 11)."""

    def __init__(self, means: torch.Tensor, labels: torch.Tensor, schedule: NoiseSchedule,
                 std: float = 0.1, sample_shape: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.register_buffer("means", means.reshape(means.shape[0], -1).float())  # (K, D)
        self.register_buffer("labels", labels.long())  # (K,)
        self.register_buffer("alpha_bar", schedule.alpha_bar.float())  # (T,)
        self.std = float(std)
        self.num_classes = int(labels.max()) + 1
        self.null_label = self.num_classes
        self.sample_shape = tuple(sample_shape or means.shape[1:])
        self.calls = 0

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Predict eps for a batch x_t of shape (B, *sample_shape)."""
        self.calls += 1
        x = x_t.reshape(x_t.shape[0], -1)  # (B, D)
        ab = self.alpha_bar[t].reshape(-1, 1)  # (B, 1)
        # marginal of component k at time t: N(sqrt(ab) mu_k, (ab s^2 + 1 - ab) I)
        var = ab * self.std**2 + (1 - ab)  # (B, 1)
        centers = ab.sqrt().unsqueeze(1) * self.means.unsqueeze(0)  # (B, K, D)
        logits = -((x.unsqueeze(1) - centers) ** 2).sum(-1) / (2 * var)  # (B, K)
        if y is not None:
            allowed = (self.labels.unsqueeze(0) == y.reshape(-1, 1)) | (y.reshape(-1, 1) == self.null_label)
            logits = logits.masked_fill(~allowed, -math.inf)
        resp = logits.softmax(-1)  # (B, K)
        mean = (resp.unsqueeze(-1) * centers).sum(1)  # (B, D)
        # eps = -sqrt(1 - ab) * score, score = -(x - E[center]) / var
        eps = (1 - ab).sqrt() * (x - mean) / var
        return eps.reshape(x_t.shape)


def toy_2d(T: int = 1000) -> tuple[MixtureEps, NoiseSchedule]:
    """Eight Gaussians on a circle, labelled into 4 classes by quadrant pairs."""
    schedule = linear_schedule(T)
    angles = torch.arange(8) * (2 * math.pi / 8)
    means = 2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)  # (8, 2)
    return MixtureEps(means, torch.arange(8) // 2, schedule, std=0.15), schedule


def toy_images(T: int = 1000, size: int = 8) -> tuple[MixtureEps, NoiseSchedule]:
    """Ten fixed random +-1 'digit' templates of shape (1, size, size), one class each."""
    schedule = linear_schedule(T)
    g = torch.Generator().manual_seed(0)
    means = torch.randint(0, 2, (10, 1, size, size), generator=g).float() * 2 - 1
    return MixtureEps(means, torch.arange(10), schedule, std=0.1, sample_shape=(1, size, size)), schedule


def toy_2d_data(n: int = 2000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples and labels from the toy_2d mixture (for reference scatters)."""
    model, _ = toy_2d()
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(0, model.means.shape[0], (n,), generator=g)
    x = model.means[k] + model.std * torch.randn(n, 2, generator=g)
    return x, model.labels[k]
