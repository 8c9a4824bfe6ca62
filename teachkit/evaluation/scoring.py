"""One way to draw, sample and score a row of an evaluation: what `evaluate()` and the benchmarks share.

A row is one (model, sampler, steps, guidance scale, n, seed). Its noise, its reference data and its
data-vs-data floor are drawn from the seed by the fixed offsets below, and it is scored by
teachkit.metrics.reports (toy_report / mnist_report, POT and torch underneath) with the one set of
metric settings there, so the same row measured by the CLI, the recorded quality or the benchmarks gives
the same number.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from teachkit.metrics import classifier_outputs, mnist_report, toy_report
from teachkit.metrics.reports import TOY_METRICS

__all__ = ["REFERENCE_SEED", "FLOOR_SEED", "FLOOR_DRAWS", "noise", "run_sampler", "ToyReference", "toy_reference",
           "score_toy", "MnistReference", "mnist_reference", "score_mnist", "mnist_floor", "TOY_METRICS"]

# offsets from a row's seed: x_T is drawn with `seed`, stochastic samplers step with `seed + 1`,
# the reference data with `seed + REFERENCE_SEED`, a second data draw (the floor) with `seed + FLOOR_SEED`
REFERENCE_SEED, FLOOR_SEED = 1000, 2000
# real-digit draws averaged for the MNIST floor
FLOOR_DRAWS = 5


def noise(n: int, shape: tuple, seed: int) -> torch.Tensor:
    """x_T, (n, *shape) standard normal on the CPU (the same numbers on every device)."""
    return torch.randn((n, *shape), generator=torch.Generator().manual_seed(seed))


def run_sampler(spec, model, schedule, x_T: torch.Tensor, steps: int, *, y=None, scale: float | None = None,
                seed: int = 0, **extra) -> tuple[torch.Tensor, int, float]:
    """One sampling run of a teachkit.SAMPLERS entry -> (samples on the CPU, NFE per sample, wall seconds).

    `scale` goes to guided samplers only (a bound Distilled entry has its scale baked in); `extra` are the
    sampler's own keywords (e.g. variance="large" for DDPM).
    """
    g = torch.Generator(device=x_T.device).manual_seed(seed + 1)
    if spec.guided and scale is not None:
        extra = {**extra, "guidance_scale": scale}
    t0 = time.perf_counter()
    traj = spec.fn(model, schedule, x_T, steps=steps, y=y, generator=g, record=False, **extra)
    sample = traj.sample.cpu()
    return sample, traj.nfe, time.perf_counter() - t0


@dataclass(frozen=True)
class ToyReference:
    """Fresh 2-D data a row is scored against (with its labels), a second draw for the floor, the exact densities."""

    x: torch.Tensor
    y: torch.Tensor
    floor: torch.Tensor
    log_prob: Callable | None = None
    class_log_prob: Callable | None = None


def toy_reference(data: Callable[[int, int], tuple[torch.Tensor, torch.Tensor]], n: int, seed: int, *,
                  log_prob: Callable | None = None, class_log_prob: Callable | None = None) -> ToyReference:
    """data(n, seed) -> (x, y) drawn at the row's offsets."""
    x, y = data(n, seed + REFERENCE_SEED)
    return ToyReference(x, y, data(n, seed + FLOOR_SEED)[0], log_prob, class_log_prob)


def score_toy(x: torch.Tensor, ref: ToyReference, y: torch.Tensor | None = None, seed: int = 0) -> dict:
    """toy_report of 2-D samples against the reference, with the one metric setting (adherence when y is given)."""
    return toy_report(x, ref.x, log_prob=ref.log_prob, y=y, class_log_prob=ref.class_log_prob if y is not None else None,
                      seed=seed, **TOY_METRICS)


@dataclass
class MnistReference:
    """The metric classifier, the features of the held-out digits (the FID reference) and the real digits."""

    classifier: nn.Module
    train: torch.Tensor  # (N, 1, 28, 28) in [-1, 1]
    train_labels: torch.Tensor
    heldout: torch.Tensor
    features: torch.Tensor | None = None  # classifier features of `heldout`, filled on first use

    def heldout_features(self) -> torch.Tensor:
        if self.features is None:
            self.features = classifier_outputs(self.classifier, self.heldout)[0]
        return self.features


def mnist_reference(classifier: nn.Module, n_train: int | None = None, n_heldout: int | None = None) -> MnistReference:
    """The shipped MNIST splits (optionally the first n of each) with the classifier that scores against them."""
    from teachkit.datasets import mnist_tensors

    train, train_labels = (v[:n_train] for v in mnist_tensors("train"))
    heldout = mnist_tensors("test")[0][:n_heldout]
    return MnistReference(classifier.float().eval(), train, train_labels, heldout)


def score_mnist(x: torch.Tensor, y: torch.Tensor | None, ref: MnistReference) -> dict:
    """mnist_report of generated digits: accuracy on the requested digit, classifier-FID to the held-out digits,
    diversity, saturation, the digits that appear and the memorization probe against all training digits."""
    return mnist_report(ref.classifier, x, y, ref.heldout_features(), train=ref.train, heldout=ref.heldout)


def _balanced_draw(labels: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Indices of distinct examples whose labels equal y, position by position (a random pick per class)."""
    idx = torch.empty_like(y)
    for k in torch.unique(y):
        want = (y == k).nonzero().flatten()
        have = (labels == k).nonzero().flatten()
        if have.shape[0] < want.shape[0]:
            raise ValueError(f"only {have.shape[0]} real digits of class {int(k)} for {want.shape[0]} samples")
        idx[want] = have[torch.randperm(have.shape[0], generator=g)[: want.shape[0]]]
    return idx


def mnist_floor(ref: MnistReference, y: torch.Tensor, seed: int, draws: int = FLOOR_DRAWS) -> dict:
    """Real training digits with the samples' labels (same n, same classes), scored like samples: the best a
    generator can do at this n. Mean over `draws` random draws, with the spread of classifier-FID (`cfid_sd`).

    The label pattern matters: at n = 50, randomly drawn digits (unequal class counts) scored cFID ~280 against
    ~190 for class-balanced ones, so a floor drawn differently from the samples would be no floor at all."""
    g = torch.Generator().manual_seed(seed)
    feats = ref.heldout_features()
    reports = [mnist_report(ref.classifier, ref.train[idx], y, feats)
               for idx in (_balanced_draw(ref.train_labels, y, g) for _ in range(draws))]
    floor = {k: sum(r[k] for r in reports) / draws for k in reports[0]
             if isinstance(reports[0][k], (int, float)) and not isinstance(reports[0][k], bool)}
    cfids = torch.tensor([r["cfid"] for r in reports], dtype=torch.float64)
    floor["cfid_sd"] = float(cfids.std()) if draws > 1 else 0.0
    floor["draws"] = draws
    return floor
