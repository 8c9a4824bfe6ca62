"""`evaluate(name_or_model, sampler=..., steps=..., n=...)`: one measurement of one model, decided by what the model is.

A 2-D model is scored against fresh data of its toy (sliced W2, energy, MMD, log-likelihood, class adherence,
with the data-vs-data floor); an MNIST model by the shipped classifier (accuracy on the requested digit,
classifier-FID to the 500 held-out digits, diversity, saturation, digits present, memorization, with the
real-digit floor); the classifier by its held-out accuracy. Samplers come from teachkit.SAMPLERS (a distilled
student's entry bound to it with its baked-in scale); scoring is teachkit.evaluation.scoring.
"""
from __future__ import annotations

from pathlib import Path

import torch

from teachkit.runtime import pick_device

from .scoring import mnist_floor, mnist_reference, noise, run_sampler, score_mnist, score_toy, toy_reference

__all__ = ["evaluate", "choose_sampler", "load_model", "TOY_N", "MNIST_N", "TOY_DATA"]

# default samples per measurement: 2,000 points of the toy, 200 digits (20 per class)
TOY_N, MNIST_N = 2000, 200
# the toy every shipped 2-D model was trained on (teachkit.training.recipes)
TOY_DATA = "moons"


def load_model(name_or_path, checkpoints: str | Path | None = None):
    """(model, schedule, info, directory to look for helpers in) for a shipped name, NAME in `checkpoints`, or a path."""
    from teachkit.checkpoints import PRETRAINED, load_checkpoint, load_pretrained

    name = str(name_or_path)
    if checkpoints is not None and name in PRETRAINED:
        if not (Path(checkpoints) / f"{name}.json").exists():
            raise FileNotFoundError(f"{Path(checkpoints) / name}.json does not exist: train it there, or leave out "
                                    "the directory to evaluate the shipped one")
        return (*load_checkpoint(Path(checkpoints) / name), Path(checkpoints))
    if name in PRETRAINED:
        return (*load_pretrained(name), None)
    path = Path(name).with_suffix("") if name.endswith((".json", ".safetensors")) else Path(name)
    if not path.with_suffix(".json").exists():
        raise FileNotFoundError(f"{name!r} is neither a shipped model ({', '.join(PRETRAINED)}) nor a checkpoint "
                                f"(no {path.with_suffix('.json')})")
    return (*load_checkpoint(path), path.parent)


def choose_sampler(model, info: dict | None, sampler: str | None, steps: int | None, scale: float | None):
    """(spec, steps, guidance scale or None) for `model`: the named registry entry, or DDIM for a diffusion model,
    the Distilled entry bound to a student (its scale baked in), the first flow sampler for a flow model."""
    from teachkit.samplers import get_sampler, samplers_for

    usable = samplers_for(model)
    name = sampler or ("DDIM" if "DDIM" in usable else next(iter(usable)))
    spec = get_sampler(name)
    if name not in usable:
        raise ValueError(f"sampler {name!r} cannot sample this model; its samplers are: {', '.join(usable)}")
    if isinstance(steps, bool) or (steps is not None and (not isinstance(steps, int) or steps < 1)):
        raise ValueError(f"steps={steps!r}: a sampler needs a positive whole number of steps")
    steps = spec.default_steps if steps is None else steps
    conditional = bool(getattr(model, "num_classes", None))
    if not spec.guided:
        if scale is not None:
            raise ValueError(f"scale: {name} has its guidance scale baked in at distillation; drop the scale")
        baked = (info or {}).get("guidance_scale")
        return spec.bind(model, baked), steps, baked
    if not conditional and scale not in (None, 1.0):
        raise ValueError("scale needs a class-conditional model: this one is unconditional")
    return spec, steps, (3.0 if scale is None else float(scale)) if conditional else None


def _count(n, default: int, least: int, why: str) -> int:
    if n is None:
        return default
    if isinstance(n, bool) or not isinstance(n, int) or n < least:
        raise ValueError(f"n={n!r}: this measurement needs at least {least} samples ({why})")
    return n


@torch.no_grad()
def evaluate(name_or_model, sampler: str | None = None, steps: int | None = None, n: int | None = None,
             scale: float | None = None, seed: int = 0, device=None, *, schedule=None, info: dict | None = None,
             checkpoints: str | Path | None = None, classifier=None) -> dict:
    """Measure one model at one setting and return a flat dict (what was run, NFE, seconds, the metrics, the floor).

    `name_or_model`: a shipped name ("toy-2d-cfg", ...), a checkpoint path, or a model with its `schedule`
    (None for the classifier) and `info`. `sampler` is a teachkit.SAMPLERS name (default: DDIM, Distilled for a
    student, Flow (Euler) for a flow model), `steps` its steps (default: its default_steps), `scale` the guidance
    scale (default 3 for a class-conditional model; 0 is the unconditional model). `n` samples (default 2,000 on
    the toy, 200 digits), drawn from `seed`. `checkpoints`: the directory holding NAME.* (e.g. runs/); a
    mnist-classifier.* there is used before the shipped one.
    """
    where = Path(checkpoints) if checkpoints is not None else None
    if isinstance(name_or_model, (str, Path)):
        name = Path(name_or_model).name.removesuffix(".json").removesuffix(".safetensors")
        model, schedule, info, where = load_model(name_or_model, checkpoints)
    elif isinstance(name_or_model, torch.nn.Module):
        model, info, name = name_or_model, dict(info or {}), (info or {}).get("name", type(name_or_model).__name__)
    else:
        raise TypeError(f"evaluate() takes a shipped name, a checkpoint path or a model, got {type(name_or_model).__name__}")
    device = pick_device(device)
    model = model.to(device).eval()
    if schedule is None:
        if not hasattr(model, "predict"):
            raise ValueError(f"{name} has no schedule: pass schedule= for a generative model")
        if sampler is not None or steps is not None or scale is not None:
            raise ValueError(f"{name} is a classifier, not a generative model: evaluate it without sampler/steps/scale")
        return {"model": name, **_classifier_quality(model, device)}
    spec, steps, w = choose_sampler(model, info, sampler, steps, scale)
    shape = tuple(model.sample_shape)
    row = {"model": name, "sampler": spec.name, "steps": steps, "guidance_scale": w, "seed": seed}
    if shape == (2,):
        from teachkit.datasets import toy, toy_class_log_prob, toy_log_prob

        n = _count(n, TOY_N, 10, "a distance between two point clouds")
        ref = toy_reference(lambda k, s: toy(TOY_DATA, k, seed=s), n, seed,
                            log_prob=lambda p: toy_log_prob(TOY_DATA, p),
                            class_log_prob=lambda p: toy_class_log_prob(TOY_DATA, p))
        y = ref.y if getattr(model, "num_classes", None) else None
        x, nfe, seconds = run_sampler(spec, model, schedule, noise(n, shape, seed).to(device), steps,
                                      y=None if y is None else y.to(device), scale=w, seed=seed)
        row.update(data=TOY_DATA, n=n, nfe=nfe, seconds=seconds, **score_toy(x, ref, y, seed=seed),
                   data_floor=score_toy(ref.floor, ref, seed=seed))
        return row
    n = _count(n, MNIST_N, 20, "two per digit: diversity is measured within each class")
    if classifier is None:
        classifier = _helper("mnist-classifier", where)
    ref = mnist_reference(classifier.to("cpu"))
    num_classes = getattr(model, "num_classes", None)
    # n / 10 of each digit, in turn; an unconditional model is scored by the digits the classifier sees
    y = torch.arange(n) % num_classes if num_classes else None
    x, nfe, seconds = run_sampler(spec, model, schedule, noise(n, shape, seed).to(device), steps,
                                  y=None if y is None else y.to(device), scale=w, seed=seed)
    row.update(data="the 500 held-out digits (classifier features)", n=n, nfe=nfe, seconds=seconds,
               **score_mnist(x, y, ref), data_floor=mnist_floor(ref, torch.arange(n) % 10 if y is None else y, seed))
    return row


def _helper(name: str, where: Path | None):
    """A model a measurement needs (the classifier, a teacher): from `where` when it holds NAME.json, else shipped."""
    from teachkit.checkpoints import load_checkpoint, load_pretrained

    if where is not None and (where / f"{name}.json").exists():
        return load_checkpoint(where / name)[0]
    return load_pretrained(name)[0]


def _classifier_quality(model, device) -> dict:
    """Accuracy of the metric classifier on the 500 held-out digits (and on its 4,500 training digits)."""
    from teachkit.datasets import mnist_tensors

    out = {}
    for split, key in (("test", "held_out_accuracy"), ("train", "train_accuracy")):
        x, y = mnist_tensors(split)
        pred = model.predict(x.to(device)).cpu()
        out[key] = float((pred == y).double().mean())
        out[f"n_{split}"] = int(y.numel())
    return out

