"""The exact velocity of a class-labelled Gaussian mixture on the linear flow path: a 'perfectly trained' flow model for tests and lessons.

On x_t = (1 - t) x_0 + t eps with x_0 ~ N(mu_k, s^2 I) in component k, x_t | k ~ N((1 - t) mu_k, v_t I),
v_t = (1 - t)^2 s^2 + t^2, and the marginal velocity is v*(x, t) = E[eps - x_0 | x_t] (Lipman et al. 2022, Thm. 1).
For one Gaussian the ODE from x_1 = z has the closed form x_t = (1 - t) mu + sqrt(v_t) z (gaussian_flow_solution).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

__all__ = ["GaussianMixtureVelocity", "gaussian_flow_solution"]


def gaussian_flow_solution(mu: torch.Tensor | float, std: float, z: torch.Tensor, t: float) -> torch.Tensor:
    """x_t = (1 - t) mu + sqrt((1 - t)^2 std^2 + t^2) z: the exact flow of N(mu, std^2 I) started at x_1 = z."""
    return (1.0 - t) * torch.as_tensor(mu, dtype=z.dtype) + math.sqrt((1.0 - t) ** 2 * std**2 + t**2) * z


class GaussianMixtureVelocity(nn.Module):
    """v*(x_t, t, y) for data from a mixture of N(mu_k, std^2 I) on the linear path; a label keeps its components (an exact CFG model)."""

    prediction = "velocity"

    def __init__(self, means: Sequence | torch.Tensor = ((2.0, 0.0), (-2.0, 0.0), (0.0, 2.0)), std: float = 0.3,
                 labels: torch.Tensor | None = None) -> None:
        super().__init__()
        means = torch.as_tensor(means, dtype=torch.float64)
        if means.ndim != 2:
            raise ValueError(f"means must have shape (K, D), got {tuple(means.shape)}")
        if std <= 0:
            raise ValueError(f"std must be positive, got {std}")
        labels = torch.arange(means.shape[0]) if labels is None else torch.as_tensor(labels, dtype=torch.long)
        self.register_buffer("means", means)  # (K, D)
        self.register_buffer("labels", labels)  # (K,)
        self.std = float(std)
        self.num_classes = int(labels.max()) + 1
        self.null_label = self.num_classes
        self.sample_shape = (means.shape[1],)
        self.calls = 0  # forward calls, for tests that count network evaluations

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The exact velocity at x_t (B, D), float t (B,) in [0, 1], labels y (B,) or None."""
        if not isinstance(t, torch.Tensor) or not t.dtype.is_floating_point or tuple(t.shape) != (x_t.shape[0],):
            got = f"{t.dtype} of shape {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
            raise TypeError(f"t must be a float tensor (B,) = ({x_t.shape[0]},) in [0, 1]; got {got}")
        self.calls += 1
        x = x_t.double()
        t = t.double().reshape(-1, 1, 1)  # (B, 1, 1)
        # component k: r = x_t - (1 - t) mu_k, v_t = (1 - t)^2 s^2 + t^2
        r = x[:, None, :] - (1.0 - t) * self.means[None]  # (B, K, D)
        v = (1.0 - t) ** 2 * self.std**2 + t**2
        logits = -0.5 * (r**2).sum(-1) / v[:, :, 0] - 0.5 * x.shape[1] * torch.log(2 * math.pi * v[:, :, 0])
        if y is not None:
            keep = (self.labels[None] == y.reshape(-1, 1)) | (y.reshape(-1, 1) == self.null_label)
            logits = logits.masked_fill(~keep, -math.inf)
        w = logits.softmax(dim=1)[:, :, None]  # (B, K, 1) posterior p(k | x_t, y)
        # E[eps - x_0 | x_t, k] = -mu_k + (t - (1 - t) s^2) / v_t * r
        v_k = -self.means[None] + (t - (1.0 - t) * self.std**2) / v * r
        return (w * v_k).sum(1).to(x_t.dtype)

    def sample(self, n: int, y: int | None = None, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """n clean draws (x0, labels) from the component(s) of class y, or the whole mixture."""
        K = self.means.shape[0]
        if y is None:
            k = torch.randint(K, (n,), generator=generator)
        else:
            own = torch.nonzero(self.labels == int(y)).flatten()
            k = own[torch.randint(len(own), (n,), generator=generator)]
        return self.means.float()[k] + self.std * torch.randn(n, self.means.shape[1], generator=generator), self.labels[k]
