"""MnistClassifier: a small CNN whose logits and penultimate features drive our sample-quality metrics (FID-style, Heusel et al. 2017)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MnistClassifier"]


class MnistClassifier(nn.Module):
    """Conv(32)-pool-Conv(64)-pool-Conv(64)-FC(feature_dim)-FC(10) on (B, 1, 28, 28) images in [-1, 1]."""

    def __init__(self, num_classes: int = 10, feature_dim: int = 128, dropout: float = 0.3):
        super().__init__()
        self.config = dict(num_classes=num_classes, feature_dim=feature_dim, dropout=dropout)
        self.num_classes = num_classes
        self.feature_dim = feature_dim
        self.input_shape = (1, 28, 28)
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 64, 3, padding=1)
        self.fc = nn.Linear(64 * 7 * 7, feature_dim)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, num_classes)

    def _check(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or tuple(x.shape[1:]) != self.input_shape:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"MnistClassifier expects images of shape (B, 1, 28, 28) in [-1, 1], got {shape}")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (B, feature_dim), the embedding used for Frechet distances."""
        self._check(x)
        # (B, 32, 14, 14)
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        # (B, 64, 7, 7)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        # (B, 64, 7, 7)
        h = F.relu(self.conv3(h))
        return F.relu(self.fc(h.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, num_classes)."""
        return self.head(self.drop(self.features(x)))

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """Predicted labels (B,) in eval mode, batched."""
        was_training = self.training
        self.eval()
        out = torch.cat([self(x[i:i + batch_size]).argmax(1) for i in range(0, x.shape[0], batch_size)])
        self.train(was_training)
        return out
