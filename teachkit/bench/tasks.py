"""What the benchmarks sample from: the shipped models when present, an exact-score 2-D mixture always."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from ..models.exact import GaussianMixtureEps
from ..runtime import seeded
from ..schedules import NoiseSchedule, linear_schedule

__all__ = ["GaussianMixtureEps", "ToyTask", "MnistTask", "mixture_task", "pretrained_toy_task", "mnist_task"]


@dataclass
class ToyTask:
    """A 2-D model with a way to draw reference data and, where known, its exact densities."""

    name: str
    model: nn.Module
    schedule: NoiseSchedule
    data: Callable[[int, int], tuple[torch.Tensor, torch.Tensor]]  # (n, seed) -> (x (n, 2), y (n,))
    log_prob: Callable | None = None
    class_log_prob: Callable | None = None
    info: dict = field(default_factory=dict)
    student: nn.Module | None = None  # a distilled student of `model` (distilled_sample), when one is shipped
    student_info: dict = field(default_factory=dict)


@dataclass
class MnistTask:
    """A class-conditional MNIST model, the metric classifier and the real digits it is judged against."""

    name: str
    model: nn.Module
    schedule: NoiseSchedule
    classifier: nn.Module
    train: torch.Tensor  # (N, 1, 28, 28) in [-1, 1]
    train_labels: torch.Tensor
    heldout: torch.Tensor
    heldout_labels: torch.Tensor
    info: dict = field(default_factory=dict)
    reference_features: torch.Tensor | None = None  # classifier features of `heldout`, filled on first use
    student: nn.Module | None = None  # a distilled student of `model` (distilled_sample), when one is shipped
    student_info: dict = field(default_factory=dict)


def mixture_task(K: int = 8, radius: float = 2.0, std: float = 0.15) -> ToyTask:
    """Eight Gaussians on a ring with the exact score: any gap to the data is the sampler's discretisation error."""
    schedule = linear_schedule()
    angles = torch.arange(K, dtype=torch.float64) * 2 * math.pi / K
    means = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
    model = GaussianMixtureEps(schedule, means, std)

    def data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        y = torch.randint(0, K, (n,), generator=g)
        return (means[y] + std * torch.randn(n, 2, generator=g, dtype=torch.float64)).float(), y

    return ToyTask(f"ring{K} (exact score)", model, schedule, data, model.log_prob, model.component_log_prob,
                   info={"model": model.config, "params": 0})


def _params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def _student(name: str) -> tuple[nn.Module | None, dict]:
    """The shipped distilled student `name` and its info, or (None, {}) while it is not there."""
    try:
        from ..checkpoints import load_pretrained

        student, _, info = load_pretrained(name)
    except (ImportError, FileNotFoundError, KeyError, ValueError) as err:
        print(f"[bench] {name} unavailable (no distilled rows): {err}")
        return None, {}
    return student.float().eval(), info


def pretrained_toy_task() -> ToyTask | None:
    """The shipped toy-2d-cfg and its toy, or None while it is not there."""
    try:
        from ..checkpoints import load_pretrained
        from ..datasets import toy

        model, schedule, info = load_pretrained("toy-2d-cfg")
    except (ImportError, FileNotFoundError, KeyError, ValueError) as err:  # not trained / shipped yet
        print(f"[bench] toy-2d-cfg unavailable: {err}")
        return None
    from ..evaluation.core import TOY_DATA

    name = TOY_DATA  # the toy the shipped 2-D models were trained on and are evaluated against
    try:
        from ..datasets import toy_class_log_prob, toy_log_prob

        log_prob = lambda x: toy_log_prob(name, x)  # noqa: E731
        class_log_prob = lambda x: toy_class_log_prob(name, x)  # noqa: E731
    except ImportError as err:
        print(f"[bench] no exact density for toy {name!r}: {err}")
        log_prob = class_log_prob = None
    student, student_info = _student("toy-2d-distilled")
    return ToyTask(f"toy-2d-cfg ({name})", model.eval(), schedule, lambda n, seed: toy(name, n, seed=seed),
                   log_prob, class_log_prob, info={"model": getattr(model, "config", {}), "params": _params(model)},
                   student=student, student_info=student_info)


def mnist_task(quick: bool = False, n_train: int | None = None, n_heldout: int | None = None) -> MnistTask | None:
    """The shipped mnist-cfg + mnist-classifier + MNIST splits (optionally the first n of each); with quick=True,
    tiny random nets stand in while the checkpoints are missing."""
    from ..datasets import mnist_tensors

    train, train_labels = (v[:n_train] for v in mnist_tensors("train"))
    heldout, heldout_labels = (v[:n_heldout] for v in mnist_tensors("test"))
    try:
        from ..checkpoints import load_pretrained

        model, schedule, info = load_pretrained("mnist-cfg")
        classifier, _, cinfo = load_pretrained("mnist-classifier")
        model, classifier = model.float().eval(), classifier.float().eval()
        name = "mnist-cfg"
        from ..evaluation import quality_rows

        info = {"model": getattr(model, "config", {}), "params": _params(model),
                "classifier": (quality_rows(cinfo) or [{}])[0]}  # its recorded held-out accuracy
        student, student_info = _student("mnist-distilled")
    except (ImportError, FileNotFoundError, KeyError, ValueError) as err:
        if not quick:
            print(f"[bench] mnist-cfg / mnist-classifier unavailable: {err}")
            return None
        from ..models import MnistClassifier, SmallUNet

        with seeded(0):  # tiny random stand-ins, without reseeding the caller's RNG
            model, classifier = SmallUNet(channels=(8, 16, 16), emb_dim=32).eval(), MnistClassifier().eval()
        schedule, name = linear_schedule(), "random SmallUNet (smoke test only)"
        info = {"model": model.config, "params": _params(model)}
        student, student_info = None, {}
    return MnistTask(name, model, schedule, classifier, train, train_labels, heldout, heldout_labels, info,
                     student=student, student_info=student_info)
