"""Binomial rates with exact (Clopper-Pearson 1934) confidence intervals; scipy.stats does the arithmetic."""
from __future__ import annotations

import math

from scipy import stats

__all__ = ["binomial_ci", "rate_with_ci", "binomial_p_value"]


def _check_counts(k: int, n: int) -> tuple[int, int]:
    if isinstance(k, bool) or isinstance(n, bool):
        raise TypeError("k and n are counts (int), not booleans")
    k, n = int(k), int(n)
    if n < 1:
        raise ValueError(f"n={n}: a rate needs at least one trial")
    if not 0 <= k <= n:
        raise ValueError(f"k={k} successes out of n={n} trials: k must lie in 0 .. n")
    return k, n


def binomial_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact two-sided Clopper-Pearson interval for a success rate k / n (never narrower than it should be)."""
    k, n = _check_counts(k, n)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level={level}: a confidence level lies strictly between 0 and 1 (e.g. 0.95)")
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def rate_with_ci(k: int, n: int, level: float = 0.95) -> dict:
    """{'k', 'n', 'rate', 'ci_low', 'ci_high'}: a measured share with its exact interval, ready to print."""
    lo, hi = binomial_ci(k, n, level)
    return {"k": int(k), "n": int(n), "rate": k / n, "ci_low": lo, "ci_high": hi}


def binomial_p_value(k: int, n: int, p: float = 0.5) -> float:
    """Two-sided exact binomial test of k successes in n trials against a true rate p (chance is 0.5 for two choices)."""
    k, n = _check_counts(k, n)
    if not 0.0 < p < 1.0 or math.isnan(p):
        raise ValueError(f"p={p}: the rate under the null hypothesis lies strictly between 0 and 1")
    return float(stats.binomtest(k, n, p).pvalue)
