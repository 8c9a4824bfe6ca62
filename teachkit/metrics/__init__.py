"""Sample quality: 2-D distribution distances, Frechet distance, MNIST classifier metrics, memorization."""
from __future__ import annotations

from .distances import class_adherence, energy_distance, mean_log_likelihood, mmd_rbf, sliced_wasserstein
from .frechet import frechet_distance, frechet_distance_from_features, gaussian_stats
from .mnist import (
    class_accuracy,
    classifier_fid,
    classifier_outputs,
    memorization_probe,
    nearest_distances,
    saturated_fraction,
    within_class_diversity,
)
from .reports import mnist_report, toy_report

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
    "memorization_probe",
    "saturated_fraction",
    "toy_report",
    "mnist_report",
]
