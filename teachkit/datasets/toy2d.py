"""2-D toy distributions with class labels and their exact (or finely integrated) densities, for lessons and metrics."""
from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["TOYS", "toy", "toy_num_classes", "toy_log_prob", "toy_class_log_prob", "toy_density", "toy_extent"]

# name: (number of classes, Gaussian noise std around the base shape, half-width of the drawing extent)
_SPEC = {
    "moons": (2, 0.10, 3.5),
    "eight_gaussians": (8, 0.15, 3.0),
    "swiss_roll": (3, 0.10, 3.5),
    "checkerboard": (8, 0.0, 2.5),
    "rings": (3, 0.08, 3.0),
    "spirals": (2, 0.08, 3.0),
}
TOYS = tuple(_SPEC)
_QUAD = 400  # points per class along a curve for the density integral


def _check_name(name: str) -> None:
    if name not in _SPEC:
        raise ValueError(f"unknown toy {name!r}; choose one of {', '.join(TOYS)}")


def toy_num_classes(name: str) -> int:
    """Number of classes (labels 0 .. K-1) of a toy."""
    _check_name(name)
    return _SPEC[name][0]


def toy_extent(name: str) -> float:
    """Half-width of a square [-e, e]^2 that holds the toy's samples, for plots and density grids."""
    _check_name(name)
    return _SPEC[name][2]


def _curve(name: str, k: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Noise-free base point of class k at curve parameter u in [0, 1] (all toys but checkerboard)."""
    if name == "moons":
        theta = math.pi * u
        # sklearn's two moons, centred and scaled by 2: (cos, sin) and (1 - cos, 1/2 - sin)
        x = np.where(k == 0, np.cos(theta), 1.0 - np.cos(theta))
        y = np.where(k == 0, np.sin(theta), 0.5 - np.sin(theta))
        return 2.0 * np.stack([x - 0.5, y - 0.25], axis=-1)
    if name == "eight_gaussians":
        angle = k * (math.pi / 4)
        return 2.0 * np.stack([np.cos(angle), np.sin(angle)], axis=-1) + 0.0 * u[..., None]
    if name == "swiss_roll":
        # t in [1.5 pi, 4.5 pi], split into equal segments, one per class; (t cos t, t sin t) / 5
        K = _SPEC[name][0]
        t = 1.5 * math.pi + 3.0 * math.pi * (k + u) / K
        return np.stack([t * np.cos(t), t * np.sin(t)], axis=-1) / 5.0
    if name == "rings":
        radius = 0.75 * (k + 1)
        angle = 2 * math.pi * u
        return radius[..., None] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    if name == "spirals":
        # two interleaved Archimedean spirals: r = 2.5 u, angle = 3 pi u + k pi
        r, angle = 2.5 * u, 3.0 * math.pi * u + k * math.pi
        return r[..., None] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    raise AssertionError(name)


def _squares() -> np.ndarray:
    """Lower-left corners of the 8 filled unit squares of a 4 x 4 board on [-2, 2]^2."""
    return np.array([(i - 2, j - 2) for j in range(4) for i in range(4) if (i + j) % 2 == 0], dtype=np.float64)


def toy(name: str, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n seeded samples (x float32 (n, 2), y int64 (n,)) with classes as balanced as n allows."""
    _check_name(name)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n={n!r}: ask for a positive integer number of samples")
    K, sigma, _ = _SPEC[name]
    rng = np.random.default_rng(seed)
    k = rng.permutation(np.arange(n) % K)
    u = rng.uniform(0.0, 1.0, size=n)
    if name == "checkerboard":
        # uniform inside square k
        x = _squares()[k] + rng.uniform(0.0, 1.0, size=(n, 2))
    else:
        # base point on the class's curve plus isotropic Gaussian noise N(0, sigma^2 I)
        x = _curve(name, k, u) + sigma * rng.standard_normal((n, 2))
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(k.astype(np.int64))


def toy_class_log_prob(name: str, x) -> torch.Tensor:
    """log p(x | k) for every class k, shape (N, K): exact for checkerboard and eight_gaussians, a fine quadrature along the curve otherwise."""
    _check_name(name)
    K, sigma, _ = _SPEC[name]
    pts = torch.as_tensor(x, dtype=torch.float64).reshape(-1, 2)
    if name == "checkerboard":
        corners = torch.from_numpy(_squares())
        inside = ((pts[:, None, :] >= corners) & (pts[:, None, :] < corners + 1)).all(-1)
        # uniform density 1 on a unit square, 0 outside
        return torch.where(inside, 0.0, -math.inf).to(torch.float64)
    m = 1 if name == "eight_gaussians" else _QUAD
    u = (np.arange(m) + 0.5) / m
    ks = np.repeat(np.arange(K), m)
    centres = torch.from_numpy(_curve(name, ks, np.tile(u, K))).reshape(K, m, 2)
    # (N, K, m): log N(x; c, sigma^2 I) = -|x - c|^2 / (2 sigma^2) - log(2 pi sigma^2)
    d2 = ((pts[:, None, None, :] - centres[None]) ** 2).sum(-1)
    log_n = -d2 / (2 * sigma**2) - math.log(2 * math.pi * sigma**2)
    # p(x | k) = mean over the curve parameter u of N(x; curve_k(u), sigma^2 I)
    return torch.logsumexp(log_n, dim=2) - math.log(m)


def toy_log_prob(name: str, x) -> torch.Tensor:
    """log p(x) (N,) of the toy's mixture with equal class weights: log mean_k p(x | k)."""
    lp = toy_class_log_prob(name, x)
    # p(x) = (1/K) sum_k p(x | k)
    return torch.logsumexp(lp, dim=1) - math.log(lp.shape[1])


def toy_density(name: str, grid: int = 200, extent: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The density on a grid x grid mesh over [-extent, extent]^2: (X, Y, p) ready for plt.contourf / pcolormesh."""
    _check_name(name)
    if grid < 2:
        raise ValueError(f"grid={grid}: need at least 2 points per axis")
    e = toy_extent(name) if extent is None else float(extent)
    xs = np.linspace(-e, e, grid)
    X, Y = np.meshgrid(xs, xs)
    pts = np.stack([X.ravel(), Y.ravel()], axis=1)
    chunks = [toy_log_prob(name, pts[i:i + 4096]).exp().numpy() for i in range(0, len(pts), 4096)]
    return X, Y, np.concatenate(chunks).reshape(grid, grid)
