"""Memorization probe: is a sample a near-copy of one training digit? torch.cdist does the distances.

The test follows the idea of Carlini et al. 2023 ("Extracting Training Data from Diffusion Models", Sec. 5):
a sample is a copy when its nearest training image is much closer than the rest of its training
neighbourhood. We search the WHOLE training set, in pixel space and (given a classifier) in its
feature space, and use held-out digits, which the model never saw, as the calibration: a fresh real
digit is what "close but not copied" looks like, so the held-out flag rate is the probe's
false-positive rate, and real training digits are the sure positives.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn

from .mnist import check_batch
from .stats import rate_with_ci

__all__ = ["nearest_distances", "neighbour_distances", "copy_scores", "memorization_probe"]


def _flat(x: torch.Tensor, name: str) -> torch.Tensor:
    x = check_batch(x, name, "images (B, 1, 28, 28) or features (B, D)")
    return x.reshape(x.shape[0], -1).detach().to("cpu", torch.float64)


def neighbour_distances(x: torch.Tensor, reference: torch.Tensor, k: int = 50, chunk: int = 256) -> torch.Tensor:
    """L2 distances (B, k) from each row of x to its k nearest rows of reference, nearest first (flattened)."""
    x, reference = _flat(x, "x"), _flat(reference, "reference")
    if x.shape[1] != reference.shape[1]:
        raise ValueError(f"x has {x.shape[1]} values per sample but reference has {reference.shape[1]}")
    if not 1 <= k <= reference.shape[0]:
        raise ValueError(f"k={k}: need 1 <= k <= the {reference.shape[0]} reference rows")
    parts = []
    for i in range(0, x.shape[0], chunk):
        xb = x[i:i + chunk]
        # pick the k nearest with the fast matrix-product distances, then measure those k exactly,
        # so that an exact copy is at distance 0.0 and not at the product formula's round-off (~1e-6)
        idx = torch.cdist(xb, reference).topk(k, dim=1, largest=False).indices  # (b, k)
        exact = (xb[:, None, :] - reference[idx]).norm(dim=2)  # (b, k)
        parts.append(exact.sort(dim=1).values)
    return torch.cat(parts)


def nearest_distances(x: torch.Tensor, reference: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """For each row of x, the L2 distance (in flattened pixel space) to its nearest row of reference, (B,)."""
    return neighbour_distances(x, reference, k=1, chunk=chunk)[:, 0]


def copy_scores(x: torch.Tensor, reference: torch.Tensor, k: int = 50) -> torch.Tensor:
    """d_1 / mean(d_1 .. d_k) per row of x: ~0 for a copy of one reference row, near 1 inside a crowd of neighbours."""
    d = neighbour_distances(x, reference, k)
    # relative distance (after Carlini et al. 2023, Sec. 5): nearest neighbour over the mean of the k nearest
    return d[:, 0] / d.mean(dim=1).clamp_min(1e-12)


def _space(name: str, samples, train, heldout, k: int, copy_ratio: float) -> dict:
    s_samples, s_heldout = copy_scores(samples, train, k), copy_scores(heldout, train, k)
    d_samples = nearest_distances(samples, train)
    d_heldout = nearest_distances(heldout, train)
    flagged = int((s_samples < copy_ratio).sum())
    false_pos = int((s_heldout < copy_ratio).sum())
    # a sample nearer to its nearest training digit than 99 % of fresh real digits come
    d_floor = float(torch.quantile(d_heldout, 0.01))
    out = {
        "copies": rate_with_ci(flagged, s_samples.numel()),
        "heldout_flagged": rate_with_ci(false_pos, s_heldout.numel()),
        "median_score": float(s_samples.median()),
        "heldout_min_score": float(s_heldout.min()),
        "median_d_train": float(d_samples.median()),
        "heldout_median_d_train": float(d_heldout.median()),
        "closer_than_heldout_p01": rate_with_ci(int((d_samples < d_floor).sum()), d_samples.numel()),
    }
    if out["heldout_min_score"] < copy_ratio:
        warnings.warn(f"{name}: {false_pos} held-out digit(s) score below copy_ratio={copy_ratio:.3f}; in this space "
                      "the threshold also flags digits the model never saw", RuntimeWarning, stacklevel=3)
    return out


def memorization_probe(samples: torch.Tensor, train: torch.Tensor, heldout: torch.Tensor, *,
                       classifier: nn.Module | None = None, train_features: torch.Tensor | None = None,
                       heldout_features: torch.Tensor | None = None, k: int = 50, copy_ratio: float = 1 / 3,
                       seed: int | None = None) -> dict:
    """Share of samples that are near-copies of a training digit (whole training set, pixels and classifier features).

    A sample is flagged when d_1 / mean(d_1 .. d_k) < copy_ratio against all training digits. The same
    test applied to held-out digits gives the false-positive rate; rates come with exact 95 % intervals.
    `frac_copies` is the pixel-space share; with a classifier, `features` repeats the test in its features
    (pass `train_features` / `heldout_features` from `classifier_outputs` to reuse them across calls).
    `seed` is accepted for old callers and unused: nothing is subsampled any more.
    """
    for name, x in (("samples", samples), ("train", train), ("heldout", heldout)):
        _flat(x, name)
    if train.shape[1:] != samples.shape[1:] or heldout.shape[1:] != samples.shape[1:]:
        raise ValueError(f"shapes differ: samples {tuple(samples.shape[1:])}, train {tuple(train.shape[1:])}, "
                         f"heldout {tuple(heldout.shape[1:])}")
    if not 0.0 < copy_ratio < 1.0:
        raise ValueError(f"copy_ratio={copy_ratio}: the nearest neighbour is never farther than the mean of the k "
                         "nearest, so a useful threshold lies strictly between 0 and 1")
    if not 2 <= k <= train.shape[0]:
        raise ValueError(f"k={k}: the relative distance needs 2 <= k <= the {train.shape[0]} training digits")
    pixels = _space("pixels", samples, train, heldout, k, copy_ratio)
    out = {
        "n_samples": int(samples.shape[0]),
        "reference_size": int(train.shape[0]),
        "heldout_size": int(heldout.shape[0]),
        "k": k,
        "copy_ratio": copy_ratio,
        "frac_copies": pixels["copies"]["rate"],
        "pixels": pixels,
    }
    if classifier is not None:
        from .mnist import classifier_outputs

        # the classifier sees what a viewer sees: samples clipped to the data range
        feats = [given if given is not None else classifier_outputs(classifier, x.clamp(-1.0, 1.0))[0]
                 for x, given in ((samples, None), (train, train_features), (heldout, heldout_features))]
        if feats[1].shape[0] != train.shape[0] or feats[2].shape[0] != heldout.shape[0]:
            raise ValueError("train_features / heldout_features must have one row per train / heldout digit")
        out["features"] = _space("features", *feats, k, copy_ratio)
        out["frac_copies_features"] = out["features"]["copies"]["rate"]
    return out
