"""How each shipped model is built and trained: the single source `python -m teachkit train NAME` reproduces.

How it is measured is teachkit.evaluation (`evaluate()`, and the recorded settings QUALITY[NAME])."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import torch

from teachkit.training.classifier import augment, classifier_loss, train_classifier
from teachkit.datasets import MNIST_SHA256, mnist_tensors, toy
from teachkit.models import MnistClassifier, SmallUNet, ToyMLP
from teachkit.runtime import seeded
from teachkit.training.config import TrainConfig, default_config

__all__ = ["RECIPES", "Recipe", "build", "train_classifier", "classifier_loss", "augment"]

TOY_NAME = "moons"


def _mnist_cfg_build():
    x, y = mnist_tensors("train")
    return SmallUNet(channels=(32, 64, 64), num_classes=10), x, y


def _toy_build():
    x, y = toy(TOY_NAME, 20000, seed=0)
    return ToyMLP(hidden=128, layers=3, num_classes=2), x, y


def _toy_flow_build():
    # the same network as toy-2d-cfg, taking continuous t in [0, 1] (teachkit.flow); its output is a velocity
    x, y = toy(TOY_NAME, 20000, seed=0)
    return ToyMLP(hidden=128, layers=3, num_classes=2, prediction="velocity", time_scale=1000.0), x, y


def _mnist_flow_build():
    x, y = mnist_tensors("train")
    return SmallUNet(channels=(32, 64, 64), num_classes=10, prediction="velocity", time_scale=1000.0), x, y


def _toy_data():
    # a distilled student is built from its teacher; the recipe only supplies the data
    return None, *toy(TOY_NAME, 20000, seed=0)


def _mnist_data():
    return None, *mnist_tensors("train")


def _classifier_build():
    return MnistClassifier(), *mnist_tensors("train")


@dataclass(frozen=True)
class Recipe:
    """A shipped model: how to build (model or None, x, y), its TrainConfig, and how it is stored.

    kind: "eps", "distilled" (built from the shipped `teacher`), "flow" (on `path`) or "classifier".
    """

    name: str
    kind: str
    build: Callable[[], tuple]
    config: TrainConfig
    data: str
    schedule: dict | None = None
    dtype: torch.dtype | None = None
    data_sha256: dict | None = None
    teacher: str | None = None
    path: dict | None = None

    def __getitem__(self, key: str):
        """The old dict access (recipe["build"], recipe["kind"], ...); recipe["train"] gives train()'s keywords, {"config": ...}."""
        if key == "train":
            return {"config": self.config}
        if key not in {f.name for f in dataclasses.fields(self)}:
            raise KeyError(key)
        return getattr(self, key)


_TOY_DATA = f"teachkit.datasets.toy('{TOY_NAME}', 20000, seed=0)"
_MNIST_DATA = "data/mnist train split (4,500 digits)"
_MNIST_SHA256 = {k: v for k, v in MNIST_SHA256.items() if k.startswith("train")}
_LINEAR = dict(name="linear", T=1000)
# the CLI saves the training state every 250 steps (--checkpoint-every)
_RUN = dict(checkpoint_every=250)

# the one registry of shipped models (teachkit.checkpoints.PRETRAINED is its names, in this order)
RECIPES = {r.name: r for r in (
    Recipe("toy-2d-cfg", "eps", _toy_build, default_config(
        "ddpm", steps=3000, batch_size=512, lr=2e-3, ema_decay=0.995, warmup=100, p_uncond=0.1, **_RUN),
        _TOY_DATA, schedule=_LINEAR),
    Recipe("mnist-cfg", "eps", _mnist_cfg_build, default_config(
        "ddpm", steps=4500, batch_size=64, lr=1e-3, ema_decay=0.999, warmup=200, p_uncond=0.1, **_RUN),
        _MNIST_DATA, schedule=_LINEAR, dtype=torch.float16, data_sha256=_MNIST_SHA256),
    Recipe("mnist-classifier", "classifier", _classifier_build, default_config(
        "classification", steps=1200, batch_size=128, lr=2e-3, **_RUN), _MNIST_DATA, data_sha256=_MNIST_SHA256),
    # consistency-distilled students (teachkit.training.distill), built from the shipped teacher
    Recipe("toy-2d-distilled", "distilled", _toy_data, default_config(
        "consistency distillation", guidance_scale=1.0, intervals=40, steps=2000, batch_size=512, lr=1e-3,
        target_decay=0.95, p_uncond=0.1, warmup=100, **_RUN), _TOY_DATA, schedule=_LINEAR, teacher="toy-2d-cfg"),
    Recipe("mnist-distilled", "distilled", _mnist_data, default_config(
        "consistency distillation", guidance_scale=3.0, intervals=20, steps=2000, batch_size=32, lr=5e-4,
        target_decay=0.95, p_uncond=0.1, warmup=50, **_RUN), _MNIST_DATA, schedule=_LINEAR, dtype=torch.float16,
        data_sha256=_MNIST_SHA256, teacher="mnist-cfg"),
    # flow matching on the linear path (teachkit.training.flow_matching): the data, EMA and dropout of the cfg models
    Recipe("toy-2d-flow", "flow", _toy_flow_build, default_config(
        "flow matching", steps=3000, batch_size=512, lr=2e-3, ema_decay=0.995, warmup=100, p_uncond=0.1, **_RUN),
        _TOY_DATA, path=dict(name="linear")),
    Recipe("mnist-flow", "flow", _mnist_flow_build, default_config(
        "flow matching", steps=6000, batch_size=64, lr=1e-3, ema_decay=0.999, warmup=200, p_uncond=0.1, **_RUN),
        _MNIST_DATA, dtype=torch.float16, data_sha256=_MNIST_SHA256, path=dict(name="linear")),
)}


def build(name: str, seed: int = 0):
    """RECIPES[name].build() with torch, Python and NumPy seeded inside (teachkit.runtime.seeded): the initial weights follow the seed.

    Returns (model or None, x, y); the caller's global random state is the same before and after. `python -m
    teachkit train` calls this, so the same command and --seed give bit-identical weights (same machine, same
    thread count).
    """
    if name not in RECIPES:
        raise ValueError(f"no recipe named {name!r}; choose one of {', '.join(RECIPES)}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    with seeded(seed, python_and_numpy=True):
        return RECIPES[name].build()
