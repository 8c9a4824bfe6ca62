"""One-call summaries of sample quality for the 2-D toys and for MNIST (what benchmarks and lessons print)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .distances import class_adherence, energy_distance, mean_log_likelihood, mmd_rbf, sliced_wasserstein
from .mnist import (
    class_accuracy,
    classifier_fid,
    classifier_outputs,
    saturated_fraction,
    within_class_diversity,
)
from .memorization import memorization_probe

__all__ = ["toy_report", "mnist_report", "TOY_METRICS"]

# the one setting of the 2-D metrics, used by teachkit.evaluate, the recorded quality and the benchmarks:
# sliced W2 with 512 fixed random projections (seeded by the row's seed), energy distance and MMD on all points
TOY_METRICS = dict(n_projections=512, max_pairwise=None)


def toy_report(
    samples: torch.Tensor,
    reference: torch.Tensor,
    *,
    log_prob: Callable | None = None,
    y: torch.Tensor | None = None,
    class_log_prob: Callable | None = None,
    seed: int = 0,
    n_projections: int = TOY_METRICS["n_projections"],
    max_pairwise: int | None = TOY_METRICS["max_pairwise"],
) -> dict:
    """Sliced W2, energy distance and MMD to reference points; exact mean log-likelihood and adherence when known.

    Energy distance and MMD cost O(n^2): `max_pairwise` limits them to the first that many points of each set.
    """
    m = max_pairwise or max(samples.shape[0], reference.shape[0])
    out = {
        "n_samples": int(samples.shape[0]),
        "n_reference": int(reference.shape[0]),
        "sliced_w2": sliced_wasserstein(samples, reference, n_projections=n_projections, seed=seed),
        "energy": energy_distance(samples[:m], reference[:m]),
        "mmd": mmd_rbf(samples[:m], reference[:m]),
    }
    if log_prob is not None:
        out["log_likelihood"] = mean_log_likelihood(samples, log_prob)
        out["log_likelihood_reference"] = mean_log_likelihood(reference, log_prob)
    if y is not None and class_log_prob is not None:
        out["adherence"] = class_adherence(samples, y, class_log_prob)
    return out


def mnist_report(
    classifier: nn.Module,
    samples: torch.Tensor,
    y: torch.Tensor | None,
    reference_features: torch.Tensor,
    *,
    train: torch.Tensor | None = None,
    heldout: torch.Tensor | None = None,
    saturation_threshold: float = 1.1,
) -> dict:
    """Classifier-FID, accuracy on the requested digit, within-class diversity, saturation (of the raw samples), the
    digits the classifier sees (counts per class), memorization."""
    # the classifier sees what a viewer sees: samples clipped to the data range [-1, 1]
    feats, logits = classifier_outputs(classifier, samples.clamp(-1.0, 1.0))
    labels = logits.argmax(dim=1) if y is None else torch.as_tensor(y)
    out = {
        "n_samples": int(samples.shape[0]),
        "cfid": classifier_fid(feats, reference_features),
        # unconditional samples are scored by diversity within the class the classifier sees
        "accuracy": class_accuracy(logits, y) if y is not None else float("nan"),
        "diversity": within_class_diversity(feats, labels),
        "saturation": saturated_fraction(samples, saturation_threshold),
    }
    counts = torch.bincount(logits.argmax(dim=1).cpu(), minlength=logits.shape[1])
    out["predicted_counts"] = counts.tolist()
    out["digits_present"] = int((counts > 0).sum())
    if train is not None and heldout is not None:
        out["memorization"] = memorization_probe(samples, train, heldout)
    return out
