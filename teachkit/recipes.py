"""How each shipped model is built, trained and measured: the single source `python -m teachkit train NAME` reproduces."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from teachkit.classifier_training import augment, classifier_loss, train_classifier
from teachkit.datasets import MNIST_SHA256, mnist_tensors, toy
from teachkit.models import MnistClassifier, SmallUNet, ToyMLP
from teachkit.runtime import pick_device, seeded
from teachkit.train_config import TrainConfig, default_config

__all__ = ["RECIPES", "Recipe", "build", "train_classifier", "classifier_loss", "evaluate_classifier", "evaluate_mnist_cfg", "evaluate_toy", "augment",
           "evaluate_distilled_toy", "evaluate_distilled_mnist"]

TOY_NAME = "moons"


@torch.no_grad()
def evaluate_classifier(model: MnistClassifier, device=None) -> dict:
    """Held-out accuracy of the classifier on the shipped 500 test digits (or the training split for reference)."""
    device = pick_device(device)
    model = model.to(device).eval()
    out = {}
    for split in ("test", "train"):
        x, y = mnist_tensors(split)
        pred = model.predict(x.to(device)).cpu()
        out[f"{'held_out' if split == 'test' else 'train'}_accuracy"] = round(float((pred == y).float().mean()), 4)
    return out


@torch.no_grad()
def evaluate_mnist_cfg(model: nn.Module, schedule, classifier: MnistClassifier, *, per_class: int = 20, steps: int = 50,
                       scales: tuple[float, ...] = (3.0, 0.0), seed: int = 0, device=None, progress: bool = False) -> dict:
    """DDIM-`steps` samples, per_class per digit, at each guidance scale; the classifier's accuracy on the requested digit and the digits that appear."""
    from teachkit.samplers import ddim_sample

    device = pick_device(device)
    model, classifier = model.to(device).eval(), classifier.to(device).eval()
    y = torch.arange(model.num_classes, device=device).repeat_interleave(per_class)
    results = {"sampler": f"DDIM-{steps} (eta=0, trailing)", "samples": int(y.numel()), "seed": seed, "scales": {}}
    for scale in scales:
        gen = torch.Generator(device=device).manual_seed(seed)
        x_T = torch.randn((y.numel(), *model.sample_shape), device=device, generator=gen)
        t0 = time.perf_counter()
        x0 = ddim_sample(model, schedule, x_T, steps, y=y, guidance_scale=scale, record=False, progress=progress).sample
        pred = classifier.predict(x0.clamp(-1, 1)).cpu()
        counts = torch.bincount(pred, minlength=model.num_classes)
        per_digit = [(pred[y.cpu() == d] == d).float().mean().item() for d in range(model.num_classes)]
        results["scales"][str(scale)] = {
            "accuracy": round(float((pred == y.cpu()).float().mean()), 4),
            "per_digit_accuracy": [round(a, 3) for a in per_digit],
            "predicted_counts": counts.tolist(),
            "digits_present": int((counts > 0).sum()),
            "seconds": round(time.perf_counter() - t0, 1),
        }
    return results


def _toy_scores(x: torch.Tensor, x_ref: torch.Tensor) -> dict:
    """Sliced W2, energy distance and mean log-likelihood of 2-D samples x against reference data x_ref."""
    from teachkit.datasets import toy_log_prob
    from teachkit.metrics import energy_distance, mean_log_likelihood, sliced_wasserstein

    return {"sliced_w2": round(sliced_wasserstein(x, x_ref), 4), "energy": round(energy_distance(x, x_ref), 4),
            "mean_log_likelihood": round(mean_log_likelihood(x, lambda p: toy_log_prob(TOY_NAME, p)), 3)}


@torch.no_grad()
def evaluate_toy(model: nn.Module, schedule, *, n: int = 2000, steps: int = 50, scales: tuple[float, ...] = (1.0, 3.0),
                 seed: int = 0, device=None) -> dict:
    """Sliced W2, energy distance and mean log-likelihood of DDIM-`steps` samples vs fresh data, and class adherence per guidance scale."""
    from teachkit.datasets import toy_class_log_prob
    from teachkit.metrics import class_adherence
    from teachkit.samplers import ddim_sample

    device = pick_device(device)
    model = model.to(device).eval()
    x_ref, y_ref = toy(TOY_NAME, n, seed=seed + 12345)
    gen = torch.Generator(device=device).manual_seed(seed)
    x_T = torch.randn((n, *model.sample_shape), device=device, generator=gen)

    def scores(x: torch.Tensor) -> dict:
        return _toy_scores(x, x_ref)

    out = {"toy": TOY_NAME, "sampler": f"DDIM-{steps} (eta=0, trailing)", "samples": n, "seed": seed}
    # a fresh data sample scored the same way: the floor a perfect model would reach
    out["data_vs_data"] = scores(toy(TOY_NAME, n, seed=seed + 999)[0])
    x0 = ddim_sample(model, schedule, x_T, steps, y=None, record=False).sample.cpu()
    out["unconditional"] = scores(x0)
    for scale in scales:
        x0 = ddim_sample(model, schedule, x_T, steps, y=y_ref.to(device), guidance_scale=scale, record=False).sample.cpu()
        adherence = class_adherence(x0, y_ref, lambda p: toy_class_log_prob(TOY_NAME, p))
        out[f"scale_{scale:g}"] = {**scores(x0), "class_adherence": round(adherence, 4)}
    return out


@torch.no_grad()
def evaluate_distilled_toy(student: nn.Module, teacher: nn.Module, schedule, *, guidance_scale: float, n: int = 2000,
                           steps: tuple[int, ...] = (1, 2, 4, 8), seed: int = 0, device=None) -> dict:
    """The student at each step count beside the teacher's DDIM at the same steps and scale: distances to fresh data, class adherence."""
    from teachkit.datasets import toy_class_log_prob
    from teachkit.metrics import class_adherence
    from teachkit.samplers import ddim_sample, distilled_sample

    device = pick_device(device)
    student, teacher = student.to(device).eval(), teacher.to(device).eval()
    x_ref, y_ref = toy(TOY_NAME, n, seed=seed + 12345)
    x_T = torch.randn((n, *student.sample_shape), device=device, generator=torch.Generator(device=device).manual_seed(seed))
    y = y_ref.to(device)

    def scores(x: torch.Tensor, nfe: int) -> dict:
        adherence = class_adherence(x.cpu(), y_ref, lambda p: toy_class_log_prob(TOY_NAME, p))
        return {**_toy_scores(x.cpu(), x_ref), "class_adherence": round(adherence, 4), "nfe": nfe}

    out = {"toy": TOY_NAME, "samples": n, "seed": seed, "guidance_scale": guidance_scale,
           "student_sampler": "multistep consistency sampling on the distillation grid", "teacher_sampler": "DDIM (eta=0, trailing)",
           "data_vs_data": _toy_scores(toy(TOY_NAME, n, seed=seed + 999)[0], x_ref), "student": {}, "teacher_ddim": {}}
    for k in steps:
        gen = torch.Generator(device=device).manual_seed(seed + 1)
        tr = distilled_sample(student, schedule, x_T, k, y=y, generator=gen, record=False)
        out["student"][str(k)] = scores(tr.sample, tr.nfe)
        tr = ddim_sample(teacher, schedule, x_T, k, y=y, guidance_scale=guidance_scale, record=False)
        out["teacher_ddim"][str(k)] = scores(tr.sample, tr.nfe)
    tr = ddim_sample(teacher, schedule, x_T, 50, y=y, guidance_scale=guidance_scale, record=False)
    out["teacher_ddim"]["50"] = scores(tr.sample, tr.nfe)
    return out


@torch.no_grad()
def evaluate_distilled_mnist(student: nn.Module, teacher: nn.Module, schedule, classifier: MnistClassifier, *,
                             guidance_scale: float, per_class: int = 20, steps: tuple[int, ...] = (1, 2, 4, 8),
                             seed: int = 0, device=None) -> dict:
    """The classifier's accuracy on the requested digit and a classifier-FID to held-out digits, student vs teacher DDIM at equal steps."""
    from teachkit.metrics import classifier_fid, classifier_outputs
    from teachkit.samplers import ddim_sample, distilled_sample

    device = pick_device(device)
    student, teacher, classifier = student.to(device).eval(), teacher.to(device).eval(), classifier.to(device).eval()
    y = torch.arange(student.num_classes, device=device).repeat_interleave(per_class)
    x_T = torch.randn((y.numel(), *student.sample_shape), device=device,
                      generator=torch.Generator(device=device).manual_seed(seed))
    feats_ref = classifier_outputs(classifier, mnist_tensors("test")[0].to(device))[0]

    def scores(x: torch.Tensor, nfe: int, seconds: float) -> dict:
        feats, logits = classifier_outputs(classifier, x.clamp(-1, 1))
        pred = logits.argmax(1)
        per_digit = [(pred[y.cpu() == d] == d).float().mean().item() for d in range(student.num_classes)]
        return {"accuracy": round(float((pred == y.cpu()).float().mean()), 4),
                "per_digit_accuracy": [round(a, 3) for a in per_digit],
                "classifier_fid": round(classifier_fid(feats, feats_ref), 2), "nfe": nfe, "seconds": round(seconds, 1)}

    out = {"samples": int(y.numel()), "seed": seed, "guidance_scale": guidance_scale, "classifier": "mnist-classifier",
           "fid_reference": "the 500 held-out test digits", "student_sampler": "multistep consistency sampling on the distillation grid",
           "teacher_sampler": "DDIM (eta=0, trailing)", "student": {}, "teacher_ddim": {}}
    for k in steps:
        t0 = time.perf_counter()
        tr = distilled_sample(student, schedule, x_T, k, y=y, generator=torch.Generator(device=device).manual_seed(seed + 1),
                              record=False)
        out["student"][str(k)] = scores(tr.sample, tr.nfe, time.perf_counter() - t0)
        t0 = time.perf_counter()
        tr = ddim_sample(teacher, schedule, x_T, k, y=y, guidance_scale=guidance_scale, record=False)
        out["teacher_ddim"][str(k)] = scores(tr.sample, tr.nfe, time.perf_counter() - t0)
    return out


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
    # consistency-distilled students (teachkit.distill), built from the shipped teacher
    Recipe("toy-2d-distilled", "distilled", _toy_data, default_config(
        "consistency distillation", guidance_scale=1.0, intervals=40, steps=2000, batch_size=512, lr=1e-3,
        target_decay=0.95, p_uncond=0.1, warmup=100, **_RUN), _TOY_DATA, schedule=_LINEAR, teacher="toy-2d-cfg"),
    Recipe("mnist-distilled", "distilled", _mnist_data, default_config(
        "consistency distillation", guidance_scale=3.0, intervals=20, steps=2000, batch_size=32, lr=5e-4,
        target_decay=0.95, p_uncond=0.1, warmup=50, **_RUN), _MNIST_DATA, schedule=_LINEAR, dtype=torch.float16,
        data_sha256=_MNIST_SHA256, teacher="mnist-cfg"),
    # flow matching on the linear path (teachkit.flow_matching): the data, EMA and dropout of the cfg models
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
