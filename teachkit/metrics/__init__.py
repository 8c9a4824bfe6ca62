"""Sample quality: 2-D distribution distances, Frechet distance, MNIST classifier metrics, memorization."""
from __future__ import annotations

from .distances import class_adherence, energy_distance, mean_log_likelihood, mmd_rbf, sliced_wasserstein
from .frechet import frechet_distance, frechet_distance_from_features, gaussian_stats
from .mnist import (
    class_accuracy,
    classifier_fid,
    classifier_outputs,
    saturated_fraction,
    within_class_diversity,
)
from .memorization import copy_scores, memorization_probe, nearest_distances, neighbour_distances
from .reports import mnist_report, toy_report
from .stats import binomial_ci, binomial_p_value, rate_with_ci

__all__ = [
    "sliced_wasserstein",
    "energy_distance",
    "mmd_rbf",
    "mean_log_likelihood",
    "class_adherence",
    "gaussian_stats",
    "frechet_distance",
    "frechet_distance_from_features",
    "classifier_outputs",
    "classifier_fid",
    "class_accuracy",
    "within_class_diversity",
    "nearest_distances",
    "neighbour_distances",
    "copy_scores",
    "memorization_probe",
    "binomial_ci",
    "binomial_p_value",
    "rate_with_ci",
    "saturated_fraction",
    "toy_report",
    "mnist_report",
]
