"""Frechet distance between Gaussians fitted to two feature sets (Heusel et al. 2017, the "F" in FID)."""
from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

from .distances import as_points

__all__ = ["gaussian_stats", "frechet_distance", "frechet_distance_from_features"]


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of a (N, D) feature set."""
    f = as_points(features, "features")
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6, imag_tol: float = 1e-3) -> float:
    """Squared Frechet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2) (Dowson & Landau 1982)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            f"shapes do not match: mu1 {mu1.shape}, mu2 {mu2.shape}, sigma1 {sigma1.shape}, sigma2 {sigma2.shape}"
        )
    diff = mu1 - mu2
    # sqrt(sigma1 sigma2) by scipy's Schur-method matrix square root; with fewer samples than feature
    # dimensions the product is singular but still has a square root, so scipy's warning is noise here
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        # near-singular product (fewer samples than dimensions): regularise both, as pytorch-fid does
        warnings.warn(f"sqrtm(sigma1 sigma2) is not finite; adding {eps} to the diagonals", RuntimeWarning)
        offset = np.eye(d) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    # round-off leaves a tiny imaginary part (~1e-6 with 10 samples of 128 features); a large one means
    # sigma1 sigma2 has negative eigenvalues, so the inputs are not covariances (pytorch-fid's 1e-3 check)
    if np.iscomplexobj(covmean):
        imag = float(np.abs(np.diagonal(covmean).imag).max())
        if imag > imag_tol:
            raise ValueError(f"sqrtm(sigma1 sigma2) has an imaginary part of {imag:.3g} on its diagonal (> {imag_tol:g}): "
                             "sigma1 and sigma2 must be covariance matrices (symmetric, no negative eigenvalues)")
        covmean = covmean.real
    # FID (Heusel et al. 2017, Eq. 6): ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))
    # identical inputs give -1e-12-ish round-off; a squared distance is never negative
    return max(value, 0.0)


def frechet_distance_from_features(features_a, features_b) -> float:
    """Frechet distance between Gaussians fitted to two (N, D) feature sets (classifier-FID on our features)."""
    fa, fb = as_points(features_a, "features_a"), as_points(features_b, "features_b")
    if fa.shape[1] != fb.shape[1]:
        raise ValueError(f"feature dimensions differ: {fa.shape[1]} vs {fb.shape[1]}")
    return frechet_distance(*gaussian_stats(fa), *gaussian_stats(fb))
