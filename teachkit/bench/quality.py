"""Quality benchmarks: sample quality vs network evaluations per sampler, and guidance sweeps.

Every row is drawn and scored by teachkit.evaluation.scoring, as `teachkit.evaluate` scores one setting:
the same noise, reference data, floor and metric settings, so a row here and the same measurement made by
`python -m teachkit evaluate` (or quoted from a checkpoint's recorded quality) give the same number.
"""
from __future__ import annotations

import torch

from ..evaluation import scoring
from ..evaluation.scoring import MnistReference, mnist_floor, noise, score_mnist, score_toy, toy_reference
from ..samplers import SAMPLERS
from .tasks import MnistTask, ToyTask

# the registry's name for the task's distilled student (its rows sample task.student, not task.model)
DISTILLED = "Distilled"

__all__ = ["VARIANTS", "DISTILLED", "run_sampler", "toy_nfe_sweep", "toy_guidance_sweep", "mnist_nfe_sweep",
           "mnist_guidance_sweep"]

# benchmark rows that are a registry sampler with other keywords; every other row name is a teachkit.SAMPLERS name
VARIANTS: dict[str, tuple[str, dict]] = {
    # DDPM with sigma_t^2 = beta_t, the "sigma-hat" row of the DDIM paper's Table 1
    "DDPM (large var)": ("DDPM", {"variance": "large"}),
}


def _ladder(task: ToyTask | MnistTask, ladder: dict[str, list[int]], scale: float | None = None):
    """(sampler, label, model, steps) for every rung; the distilled rows use the task's student, when shipped,
    labelled with the scale it was distilled at where that differs from the sweep's."""
    for sampler, steps_list in ladder.items():
        model, label = task.model, sampler
        if sampler == DISTILLED:
            if task.student is None:
                continue
            model = task.student
            w = task.student_info.get("guidance_scale")
            if scale is not None and w is not None and float(w) != float(scale):
                label = f"{DISTILLED} (scale {w:g})"
        for steps in steps_list:
            yield sampler, label, model, steps


def run_sampler(name: str, model, schedule, x_T: torch.Tensor, steps: int, *, y=None, scale: float = 1.0,
                seed: int = 0) -> tuple[torch.Tensor, int, float]:
    """One sampling run of a registry sampler (or a VARIANTS row) -> (samples on CPU, NFE per sample, wall seconds);
    the Distilled entry is bound to `model` (the student) with its baked-in scale."""
    base, extra = VARIANTS.get(name, (name, {}))
    spec = SAMPLERS[base]  # a KeyError here names a ladder entry that is not in the registry
    if not spec.guided:
        spec = spec.bind(model)
    return scoring.run_sampler(spec, model, schedule, x_T, steps, y=y, scale=scale, seed=seed, **extra)


def _log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


def _toy_reference(task: ToyTask, n: int, seed: int):
    return toy_reference(task.data, n, seed, log_prob=task.log_prob, class_log_prob=task.class_log_prob)


def toy_nfe_sweep(task: ToyTask, ladder: dict[str, list[int]], n: int, seed: int = 0) -> dict:
    """Unconditional 2-D samples from every (sampler, steps) against fresh data; plus the data-vs-data floor."""
    ref = _toy_reference(task, n, seed)
    x_T = noise(n, tuple(task.model.sample_shape), seed)
    rows = []
    for sampler, label, model, steps in _ladder(task, ladder):
        x, nfe, secs = run_sampler(sampler, model, task.schedule, x_T, steps, seed=seed)
        row = {"sampler": label, "steps": steps, "nfe": nfe, "seconds": secs, **score_toy(x, ref, seed=seed)}
        _log(f"{task.name} {label}-{steps}: SW2 {row['sliced_w2']:.4f} ({secs:.1f} s)")
        rows.append(row)
    return {"task": task.name, "n": n, "seed": seed, "guidance": "unconditional (null label)",
            "model": task.info, "data_floor": score_toy(ref.floor, ref, seed=seed), "rows": rows}


def toy_guidance_sweep(task: ToyTask, scales: list[float], sampler: str, steps: int, n: int, seed: int = 0) -> dict:
    """Class-conditional 2-D samples at each guidance scale: distance to the data, log-likelihood, adherence."""
    ref = _toy_reference(task, n, seed)
    x_T = noise(n, tuple(task.model.sample_shape), seed)
    rows = []
    for scale in scales:
        x, nfe, secs = run_sampler(sampler, task.model, task.schedule, x_T, steps, y=ref.y, scale=scale, seed=seed)
        row = {"scale": scale, "nfe": nfe, "seconds": secs, **score_toy(x, ref, ref.y, seed=seed)}
        _log(f"{task.name} scale {scale}: SW2 {row['sliced_w2']:.4f} adherence {row.get('adherence', float('nan')):.3f}")
        rows.append(row)
    return {"task": task.name, "sampler": f"{sampler}-{steps}", "n": n, "seed": seed, "rows": rows}


def _mnist_reference(task: MnistTask) -> MnistReference:
    """The task's classifier and digits as the scoring reference; the held-out features are computed once per task."""
    ref = MnistReference(task.classifier, task.train, task.train_labels, task.heldout, task.reference_features)
    task.reference_features = ref.heldout_features()
    return ref


def mnist_nfe_sweep(task: MnistTask, ladder: dict[str, list[int]], n: int, scale: float, seed: int = 0,
                    keep: dict | None = None) -> dict:
    """Class-conditional MNIST samples (n / 10 per digit) from every (sampler, steps): classifier metrics vs held-out."""
    ref = _mnist_reference(task)
    y = torch.arange(n) % 10
    x_T = noise(n, tuple(task.model.sample_shape), seed)
    rows = []
    for sampler, label, model, steps in _ladder(task, ladder, scale):
        x, nfe, secs = run_sampler(sampler, model, task.schedule, x_T, steps, y=y, scale=scale, seed=seed)
        row = {"sampler": label, "steps": steps, "nfe": nfe, "seconds": secs, **score_mnist(x, y, ref)}
        _log(f"{task.name} {label}-{steps}: cFID {row['cfid']:.2f} acc {row['accuracy']:.3f} ({secs:.1f} s)")
        rows.append(row)
        if keep is not None:
            keep[f"{label}-{steps}"] = x[:20]
    return {"task": task.name, "n": n, "seed": seed, "guidance_scale": scale, "model": task.info,
            "data_floor": mnist_floor(ref, y, seed), "rows": rows}


def mnist_guidance_sweep(task: MnistTask, scales: list[float], sampler: str, steps: int, n: int, seed: int = 0,
                         keep: dict | None = None) -> dict:
    """MNIST at each guidance scale (same x_T, same labels): accuracy, diversity, classifier-FID, saturation."""
    ref = _mnist_reference(task)
    y = torch.arange(n) % 10
    x_T = noise(n, tuple(task.model.sample_shape), seed)
    rows = []
    for scale in scales:
        x, nfe, secs = run_sampler(sampler, task.model, task.schedule, x_T, steps, y=y, scale=scale, seed=seed)
        row = {"scale": scale, "nfe": nfe, "seconds": secs, **score_mnist(x, y, ref)}
        _log(f"{task.name} scale {scale}: acc {row['accuracy']:.3f} div {row['diversity']:.2f} cFID {row['cfid']:.2f} "
             f"sat {row['saturation']:.4f} ({secs:.1f} s)")
        rows.append(row)
        if keep is not None:
            keep[scale] = x[:20]
    return {"task": task.name, "sampler": f"{sampler}-{steps}", "n": n, "seed": seed,
            "data_floor": mnist_floor(ref, y, seed), "rows": rows}
