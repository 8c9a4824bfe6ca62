"""MNIST sample quality with our own classifier: classifier-FID, accuracy, diversity, saturation (memorization.py: copies)."""
from __future__ import annotations

import torch
from torch import nn

from .frechet import frechet_distance_from_features

__all__ = [
    "check_batch",
    "classifier_outputs",
    "classifier_fid",
    "class_accuracy",
    "within_class_diversity",
    "saturated_fraction",
]


def check_batch(x: torch.Tensor, name: str, what: str = "images (B, 1, 28, 28)") -> torch.Tensor:
    """`x` itself if it is a finite torch.Tensor batch of at least one row; else a TypeError/ValueError naming `name`."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of {what}, got {type(x).__name__}")
    if x.ndim < 2 or x.shape[0] < 1:
        raise ValueError(f"{name} must be a batch (B, ...) with B >= 1, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf (did the sampler diverge?)")
    return x


@torch.no_grad()
def classifier_outputs(classifier: nn.Module, x: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (B, D) from `classifier.features(x)` and logits (B, K) from `classifier(x)`, in eval mode, on CPU."""
    x = check_batch(x, "x")
    if not hasattr(classifier, "features"):
        raise TypeError("classifier needs a features(x) method (teachkit's MnistClassifier has one)")
    was_training = classifier.training
    classifier.eval()
    tensors = [*classifier.parameters(), *classifier.buffers()]
    device = tensors[0].device if tensors else torch.device("cpu")
    feats, logits = [], []
    try:
        for i in range(0, x.shape[0], batch_size):
            xb = x[i : i + batch_size].to(device=device, dtype=torch.float32)
            feats.append(classifier.features(xb).reshape(xb.shape[0], -1).float().cpu())
            logits.append(classifier(xb).float().cpu())
    finally:
        classifier.train(was_training)
    return torch.cat(feats), torch.cat(logits)


def classifier_fid(features_gen: torch.Tensor, features_ref: torch.Tensor) -> float:
    """Classifier-FID: Frechet distance between Gaussians fitted to generated and held-out real features."""
    return frechet_distance_from_features(features_gen, features_ref)


def class_accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of samples the classifier assigns to the requested label y (our stand-in for CLIP score)."""
    y = torch.as_tensor(y).reshape(-1).to(torch.long)
    if logits.ndim != 2 or logits.shape[0] != y.shape[0]:
        raise ValueError(f"logits must be (B, K) with B = len(y) = {y.shape[0]}, got {tuple(logits.shape)}")
    return float((logits.argmax(dim=1).cpu() == y.cpu()).double().mean())


def within_class_diversity(features: torch.Tensor, y: torch.Tensor) -> float:
    """Mean pairwise L2 feature distance within each requested class, averaged over classes with >= 2 samples."""
    features = torch.as_tensor(features).reshape(features.shape[0], -1).double()
    y = torch.as_tensor(y).reshape(-1).to(torch.long).cpu()
    if y.shape[0] != features.shape[0]:
        raise ValueError(f"y has {y.shape[0]} labels for {features.shape[0]} feature rows")
    per_class = []
    for k in torch.unique(y):
        f = features[y == k]
        n = f.shape[0]
        if n < 2:
            continue
        # mean over the n (n - 1) ordered pairs i != j of ||f_i - f_j|| (the diagonal is 0)
        per_class.append(torch.cdist(f, f).sum() / (n * (n - 1)))
    if not per_class:
        raise ValueError("within_class_diversity needs at least one class with 2 or more samples")
    return float(torch.stack(per_class).mean())


def saturated_fraction(x: torch.Tensor, threshold: float = 1.1) -> float:
    """Fraction of pixels with |x| > threshold: values the [-1, 1] data range never has, clipped away on display."""
    x = check_batch(x, "x")
    if threshold <= 0:
        raise ValueError(f"threshold={threshold}: must be positive (data live in [-1, 1])")
    return float((x.abs() > threshold).double().mean())
