"""Exact eps-predictors for Gaussian mixtures: small, deterministic test models for the widget tests."""
from __future__ import annotations

import math

import torch

from teachkit.models.exact import GaussianMixtureEps
from teachkit.schedules import NoiseSchedule, linear_schedule


MixtureEps = GaussianMixtureEps  # the library's exact model


def toy_2d(T: int = 1000) -> tuple[MixtureEps, NoiseSchedule]:
    """Eight Gaussians on a circle, labelled into 4 classes by quadrant pairs."""
    schedule = linear_schedule(T)
    angles = torch.arange(8) * (2 * math.pi / 8)
    means = 2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)  # (8, 2)
    return GaussianMixtureEps(schedule, means, std=0.15, labels=torch.arange(8) // 2), schedule


def toy_images(T: int = 1000, size: int = 8) -> tuple[MixtureEps, NoiseSchedule]:
    """Ten fixed random +-1 'digit' templates of shape (1, size, size), one class each."""
    schedule = linear_schedule(T)
    g = torch.Generator().manual_seed(0)
    means = torch.randint(0, 2, (10, 1, size, size), generator=g).float() * 2 - 1
    return GaussianMixtureEps(schedule, means, std=0.1), schedule


def toy_2d_data(n: int = 2000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples and labels from the toy_2d mixture (for reference scatters)."""
    model, _ = toy_2d()
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(0, model.means.shape[0], (n,), generator=g)
    x = model.means[k] + model.std * torch.randn(n, 2, generator=g)
    return x, model.labels[k]


class SlowModel(torch.nn.Module):
    """A model that sleeps `delay` seconds per forward pass: a re-sample that is still running when the next change comes."""

    def __init__(self, inner: torch.nn.Module, delay: float = 0.01) -> None:
        super().__init__()
        self.inner, self.delay = inner, float(delay)
        self.num_classes, self.null_label = inner.num_classes, inner.null_label
        self.sample_shape = inner.sample_shape
        self.calls = 0

    def forward(self, *args):
        import time

        self.calls += 1
        time.sleep(self.delay)
        return self.inner(*args)
