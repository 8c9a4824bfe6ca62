"""Feedback for exercise 7: the Frechet distance between Gaussians fitted to features (Heusel et al. 2017, Eq. 6)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ...metrics.frechet import frechet_distance, frechet_distance_from_features, gaussian_stats
from ._core import _call, reference_copy, substituted

__all__ = ["check_frechet_distance", "check_frechet_from_features", "REFERENCES"]

REFERENCES = {"frechet_distance": (frechet_distance, frechet_distance_from_features),
              "frechet_from_features": (frechet_distance, frechet_distance_from_features, gaussian_stats)}


def _as_float(got, where: str) -> float:
    if isinstance(got, np.ndarray) and got.size == 1:
        got = got.item()
    if isinstance(got, complex) or np.iscomplexobj(got):
        raise AssertionError(f"{where}: got a complex number {got}; sqrtm can leave a tiny imaginary part: "
                             "take the real part of sqrtm(sigma1 @ sigma2) (np.real) before the trace")
    if not isinstance(got, (int, float, np.floating)):
        raise AssertionError(f"{where}: return one float, got {type(got).__name__}")
    return float(got)


def check_frechet_distance(fn: Callable) -> None:
    """fn(mu1, sigma1, mu2, sigma2) -> ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))."""
    import scipy.linalg

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    cases = {"identical Gaussians": (np.zeros(6), np.eye(6), np.zeros(6), np.eye(6)),
             "1-D N(0, 1) vs N(3, 4)": (np.zeros(1), np.eye(1), np.full(1, 3.0), np.full((1, 1), 4.0)),
             "two 6-D Gaussians": (rng.normal(size=6), a @ a.T / 6 + np.eye(6), rng.normal(size=6), b @ b.T / 6)}
    for label, (m1, s1, m2, s2) in cases.items():
        expected = frechet_distance(m1, s1, m2, s2)
        where = f"your frechet_distance is off for {label}"
        got = _as_float(_call(fn, "frechet_distance", m1.copy(), s1.copy(), m2.copy(), s2.copy(),
                              refuse=REFERENCES["frechet_distance"]), where)
        if abs(got - expected) <= 1e-6 * max(1.0, abs(expected)):
            continue
        d2, tr = float((m1 - m2) @ (m1 - m2)), float(np.trace(s1) + np.trace(s2))
        covmean = float(np.trace(np.real(scipy.linalg.sqrtm(s1 @ s2))))
        mistakes = {
            "the cross term is 2 Tr((sigma1 sigma2)^(1/2)); you left out the factor 2": d2 + tr - covmean,
            "(sigma1 sigma2)^(1/2) is a matrix square root (scipy.linalg.sqrtm), not the elementwise np.sqrt":
                d2 + tr - 2 * float(np.trace(np.sqrt(np.abs(s1 * s2)))),
            "the mean term is the squared distance ||mu1 - mu2||^2, not the distance":
                float(np.sqrt(d2)) + tr - 2 * covmean,
            "you forgot the covariance terms Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))": d2,
        }
        hint = next((h for h, v in mistakes.items() if abs(v - got) <= 1e-6 * max(1.0, abs(v))),
                    "FID (Heusel et al. 2017, Eq. 6): ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 sqrtm(sigma1 @ sigma2))")
        raise AssertionError(f"{where}: expected {expected:.4f}, got {got:.4f}; {hint}")
    print(f"check_frechet_distance: ok, {len(cases)} cases match teachkit.metrics.frechet_distance")


def check_frechet_from_features(fn: Callable) -> None:
    """fn(features_a, features_b) -> the Frechet distance of Gaussians fitted (mean, unbiased covariance) to (N, D) arrays."""
    rng = np.random.default_rng(1)
    for n, d in ((40, 3), (12, 5), (300, 2)):
        fa, fb = rng.normal(size=(n, d)), rng.normal(loc=0.5, size=(n + 7, d))
        expected = frechet_distance_from_features(fa, fb)
        where = f"your frechet_from_features is off for {n} and {n + 7} samples of {d} features"
        # graded with a correct frechet_distance in place of the student's own (that one has its own question)
        with substituted(fn, frechet_distance=reference_copy(frechet_distance)):
            try:
                out = _call(fn, "frechet_from_features", fa.copy(), fb.copy(), refuse=REFERENCES["frechet_from_features"])
            except ValueError as err:
                raise AssertionError(f"{where}: it raised ValueError ({err}); np.cov treats rows as variables "
                                     "unless rowvar=False: features are (N, D), so the covariance is D x D") from err
        got = _as_float(out, where)
        if abs(got - expected) <= 1e-6 * max(1.0, abs(expected)):
            continue
        biased = frechet_distance(fa.mean(0), np.atleast_2d(np.cov(fa, rowvar=False, ddof=0)),
                                  fb.mean(0), np.atleast_2d(np.cov(fb, rowvar=False, ddof=0)))
        hint = ("use the unbiased covariance (np.cov divides by N - 1); you divided by N" if abs(got - biased) < 1e-6 else
                "fit each set's mean (axis 0) and D x D covariance (np.cov(f, rowvar=False)), then call your frechet_distance")
        raise AssertionError(f"{where}: expected {expected:.4f}, got {got:.4f}; {hint}")
    print("check_frechet_from_features: ok, matches teachkit.metrics.frechet_distance_from_features on 3 feature sets")
