"""Distances between two point clouds for 2-D sample quality: sliced Wasserstein, energy distance, MMD."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import ot
import torch

__all__ = [
    "sliced_wasserstein",
    "energy_distance",
    "mmd_rbf",
    "mean_log_likelihood",
    "class_adherence",
]


def as_points(x, name: str = "x") -> np.ndarray:
    """A (N, D) float64 numpy copy of a tensor or array; (N, ...) inputs are flattened per sample."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    elif not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape (N, D) (one row per sample), got shape {x.shape}")
    if x.shape[0] < 2:
        raise ValueError(f"{name} has {x.shape[0]} sample(s); a distribution distance needs at least 2")
    x = x.reshape(x.shape[0], -1)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf (did the sampler diverge?)")
    return x


def _pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = as_points(x, "x"), as_points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x has dimension {x.shape[1]} but y has {y.shape[1]}")
    return x, y


def sliced_wasserstein(x, y, *, n_projections: int = 512, seed: int = 0, p: int = 2) -> float:
    """Sliced p-Wasserstein distance with fixed random projections (Bonneel et al. 2015; POT)."""
    x, y = _pair(x, y)
    if n_projections < 1:
        raise ValueError(f"n_projections={n_projections}: need at least one projection")
    # SW_p(mu, nu) = (E_theta W_p^p(theta # mu, theta # nu))^(1/p), theta uniform on the sphere;
    # a fixed seed makes the Monte Carlo estimate a deterministic function of the two sets.
    return float(ot.sliced_wasserstein_distance(x, y, n_projections=n_projections, p=p, seed=seed))


def _mean_pairwise_distance(a: np.ndarray, b: np.ndarray, chunk: int = 2048) -> float:
    total = 0.0
    for i in range(0, a.shape[0], chunk):
        # ||a_i - b_j|| for one block of rows, (chunk, M)
        d = np.sqrt(np.maximum(ot.dist(a[i : i + chunk], b, metric="sqeuclidean"), 0.0))
        total += float(d.sum())
    return total / (a.shape[0] * b.shape[0])


def energy_distance(x, y) -> float:
    """Energy distance sqrt(2 E|X-Y| - E|X-X'| - E|Y-Y'|) (Szekely & Rizzo 2013); equals scipy's in 1-D."""
    x, y = _pair(x, y)
    # Szekely & Rizzo Eq. (2) (V-statistics, so identical sets give exactly 0):
    # D^2 = 2 E||X - Y|| - E||X - X'|| - E||Y - Y'||
    d2 = 2 * _mean_pairwise_distance(x, y) - _mean_pairwise_distance(x, x) - _mean_pairwise_distance(y, y)
    return float(np.sqrt(max(d2, 0.0)))


def mmd_rbf(x, y, bandwidths: Sequence[float] = (0.1, 0.2, 0.5, 1.0, 2.0)) -> float:
    """Unbiased squared MMD with a sum of Gaussian kernels exp(-|x-y|^2 / (2 s^2)) (Gretton et al. 2012, Eq. 3)."""
    x, y = _pair(x, y)
    if len(bandwidths) == 0 or min(bandwidths) <= 0:
        raise ValueError(f"bandwidths must be a non-empty list of positive numbers, got {bandwidths!r}")

    def kernel_mean(a: np.ndarray, b: np.ndarray, same: bool) -> float:
        sq = ot.dist(a, b, metric="sqeuclidean")  # (N, M)
        k = sum(np.exp(-sq / (2 * s * s)) for s in bandwidths)
        if same:
            # unbiased: drop the i == j terms
            return float((k.sum() - np.trace(k)) / (a.shape[0] * (a.shape[0] - 1)))
        return float(k.mean())

    # Gretton et al. Eq. (3): MMD_u^2 = E k(x, x') + E k(y, y') - 2 E k(x, y)
    return kernel_mean(x, x, True) + kernel_mean(y, y, True) - 2 * kernel_mean(x, y, False)


def mean_log_likelihood(x, log_prob: Callable[[torch.Tensor], torch.Tensor]) -> float:
    """Mean of log p(x) over the samples under a known density (e.g. a 2-D toy's exact density)."""
    if not callable(log_prob):
        raise TypeError(f"log_prob must be callable x -> log p(x), got {type(log_prob).__name__}")
    x = torch.as_tensor(as_points(x))
    lp = torch.as_tensor(log_prob(x), dtype=torch.float64).reshape(-1)
    if lp.shape[0] != x.shape[0]:
        raise ValueError(f"log_prob returned {lp.shape[0]} values for {x.shape[0]} samples")
    return float(lp.mean())


def class_adherence(x, y, class_log_prob: Callable[[torch.Tensor], torch.Tensor]) -> float:
    """Fraction of samples whose most likely class under the known per-class densities is the requested y."""
    if not callable(class_log_prob):
        raise TypeError("class_log_prob must be callable x -> (N, K) per-class log densities")
    x = torch.as_tensor(as_points(x))
    y = torch.as_tensor(y).reshape(-1).to("cpu", torch.long)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y has {y.shape[0]} labels for {x.shape[0]} samples")
    lp = torch.as_tensor(class_log_prob(x))
    if lp.ndim != 2 or lp.shape[0] != x.shape[0]:
        raise ValueError(f"class_log_prob must return shape (N, K) = ({x.shape[0]}, K), got {tuple(lp.shape)}")
    # Bayes rule with equal priors: argmax_k log p(x | k)
    return float((lp.argmax(dim=1).cpu() == y).double().mean())
