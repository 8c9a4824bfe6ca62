"""The exact noise predictor of a class-labelled Gaussian mixture: a 'perfectly trained' model for tests and exercises."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from teachkit.schedules import NoiseSchedule

__all__ = ["GaussianMixtureEps"]


class GaussianMixtureEps(nn.Module):
    """eps*(x_t, t, y) = -sqrt(1 - alpha_bar_t) grad log q_t(x_t | y) for data from a mixture of N(mu_k, std^2 I) (no training error).

    Component k has class `labels[k]` (default: k); a label selects its components, the null label
    (`num_classes`) or y=None keeps the whole mixture, so this is also an exact CFG model.
    """

    def __init__(self, schedule: NoiseSchedule, means: Sequence | torch.Tensor = ((2.0, 0.0), (-2.0, 0.0), (0.0, 2.0)),
                 std: float = 0.3, labels: torch.Tensor | None = None,
                 sample_shape: tuple[int, ...] | None = None) -> None:
        super().__init__()
        means = torch.as_tensor(means, dtype=torch.float64)
        if means.ndim < 2:
            raise ValueError(f"means must have shape (K, *sample_shape), got {tuple(means.shape)}")
        if std <= 0:
            raise ValueError(f"std must be positive, got {std}")
        labels = torch.arange(means.shape[0]) if labels is None else torch.as_tensor(labels, dtype=torch.long)
        self.register_buffer("means", means.reshape(means.shape[0], -1))  # (K, D)
        self.register_buffer("labels", labels)  # (K,)
        self.register_buffer("alpha_bar", schedule.alpha_bar.clone())  # (T,) float64
        self.std = float(std)
        self.num_classes = int(labels.max()) + 1
        self.null_label = self.num_classes
        self.sample_shape = tuple(sample_shape or means.shape[1:])
        self.config = dict(kind="exact Gaussian-mixture eps", K=int(means.shape[0]), std=self.std)
        self.calls = 0  # forward calls, for tests that count network evaluations

    def component_log_prob(self, x: torch.Tensor, alpha_bar: torch.Tensor | float = 1.0) -> torch.Tensor:
        """log N(x; sqrt(alpha_bar) mu_k, (alpha_bar std^2 + 1 - alpha_bar) I) for every component k: (B, K)."""
        x = x.reshape(x.shape[0], -1).double()
        ab = torch.as_tensor(alpha_bar, dtype=torch.float64, device=x.device).reshape(-1, 1)  # (B or 1, 1)
        # DDPM Eq. (4) on one component: q(x_t | k) = N(sqrt(alpha_bar) mu_k, v I), v = alpha_bar std^2 + 1 - alpha_bar
        v = ab * self.std**2 + 1.0 - ab
        sq = ((x[:, None, :] - ab.sqrt()[:, :, None] * self.means[None]) ** 2).sum(-1)  # (B, K)
        return -0.5 * sq / v - 0.5 * x.shape[1] * torch.log(2 * math.pi * v)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact data log-density log p(x_0) with equal component weights: (B,)."""
        return torch.logsumexp(self.component_log_prob(x), dim=1) - math.log(self.means.shape[0])

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Predict eps for x_t of shape (B, *sample_shape); t a LongTensor (B,); y labels (B,) or None."""
        if not isinstance(t, torch.Tensor) or t.dtype != torch.long or tuple(t.shape) != (x_t.shape[0],):
            got = f"{t.dtype} of shape {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
            raise TypeError(f"t must be a LongTensor of shape (B,) = ({x_t.shape[0]},), one timestep per sample, "
                            f"e.g. torch.full((B,), t, dtype=torch.long); got {got}")
        self.calls += 1
        ab = self.alpha_bar[t].reshape(-1, 1)  # (B, 1)
        v = ab * self.std**2 + 1.0 - ab
        logits = self.component_log_prob(x_t, ab)  # (B, K)
        if y is not None:
            # a real label keeps its own components; the null label keeps them all
            keep = (self.labels[None] == y.reshape(-1, 1)) | (y.reshape(-1, 1) == self.null_label)
            logits = logits.masked_fill(~keep, -math.inf)
        w = logits.softmax(dim=1)  # (B, K) posterior p(k | x_t, y)
        # eps* = sqrt(1 - alpha_bar) sum_k w_k (x_t - sqrt(alpha_bar) mu_k) / v
        resid = x_t.reshape(x_t.shape[0], -1).double()[:, None, :] - ab.sqrt()[:, :, None] * self.means[None]
        eps = (1.0 - ab).sqrt() * (w[:, :, None] * resid).sum(1) / v
        return eps.reshape(x_t.shape).to(x_t.dtype)

    def sample(self, n: int, y: int | None = None, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """n clean draws (x0, class labels) from component(s) of class y, or the whole mixture when y is None."""
        K = self.means.shape[0]
        if y is None:
            k = torch.randint(K, (n,), generator=generator)
        else:
            own = torch.nonzero(self.labels.cpu() == int(y)).flatten()
            k = own[torch.randint(len(own), (n,), generator=generator)]
        x = self.means.cpu().float()[k] + self.std * torch.randn(n, self.means.shape[1], generator=generator)
        return x.reshape(n, *self.sample_shape), self.labels.cpu()[k]

    def nearest_class(self, x: torch.Tensor) -> torch.Tensor:
        """The class of the component mean nearest to each sample: (B,) labels."""
        d = torch.cdist(x.reshape(x.shape[0], -1).double(), self.means.to(x.device))
        return self.labels.to(x.device)[d.argmin(-1)]
