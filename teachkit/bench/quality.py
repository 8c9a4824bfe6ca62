"""Quality benchmarks: sample quality vs network evaluations per sampler, and guidance sweeps."""
from __future__ import annotations

import time
from typing import Callable

import torch

from ..metrics import classifier_outputs, mnist_report, toy_report
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
    """One sampling run of a registry sampler (or a VARIANTS row) -> (samples on CPU, NFE per sample, wall seconds)."""
    g = torch.Generator(device=x_T.device).manual_seed(seed + 1)
    t0 = time.perf_counter()
    base, extra = VARIANTS.get(name, (name, {}))
    spec = SAMPLERS[base]  # a KeyError here names a ladder entry that is not in the registry
    if spec.guided:
        extra = {**extra, "guidance_scale": scale}
    traj = spec.fn(model, schedule, x_T, steps=steps, y=y, generator=g, record=False, **extra)
    sample = traj.sample.cpu()
    return sample, traj.nfe, time.perf_counter() - t0


# sliced W2 on all points with 256 fixed projections; the O(n^2) energy distance and MMD on the first 1000
TOY_METRICS = dict(n_projections=256, max_pairwise=1000)


def _noise(n: int, shape: tuple, seed: int) -> torch.Tensor:
    return torch.randn((n, *shape), generator=torch.Generator().manual_seed(seed))


def _log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


def toy_nfe_sweep(task: ToyTask, ladder: dict[str, list[int]], n: int, seed: int = 0) -> dict:
    """Unconditional 2-D samples from every (sampler, steps) against fresh data; plus the data-vs-data floor."""
    x_ref, _ = task.data(n, seed + 1000)
    x_T = _noise(n, tuple(task.model.sample_shape), seed)
    floor = toy_report(task.data(n, seed + 2000)[0], x_ref, log_prob=task.log_prob, seed=seed, **TOY_METRICS)
    rows = []
    for sampler, label, model, steps in _ladder(task, ladder):
        x, nfe, secs = run_sampler(sampler, model, task.schedule, x_T, steps, seed=seed)
        row = {"sampler": label, "steps": steps, "nfe": nfe, "seconds": secs,
               **toy_report(x, x_ref, log_prob=task.log_prob, seed=seed, **TOY_METRICS)}
        _log(f"{task.name} {label}-{steps}: SW2 {row['sliced_w2']:.4f} ({secs:.1f} s)")
        rows.append(row)
    return {"task": task.name, "n": n, "seed": seed, "guidance": "unconditional (null label)",
            "model": task.info, "data_floor": floor, "rows": rows}


def toy_guidance_sweep(task: ToyTask, scales: list[float], sampler: str, steps: int, n: int, seed: int = 0) -> dict:
    """Class-conditional 2-D samples at each guidance scale: distance to the data, log-likelihood, adherence."""
    x_ref, y_ref = task.data(n, seed + 1000)
    x_T = _noise(n, tuple(task.model.sample_shape), seed)
    rows = []
    for scale in scales:
        x, nfe, secs = run_sampler(sampler, task.model, task.schedule, x_T, steps, y=y_ref, scale=scale, seed=seed)
        row = {"scale": scale, "nfe": nfe, "seconds": secs,
               **toy_report(x, x_ref, log_prob=task.log_prob, y=y_ref, class_log_prob=task.class_log_prob, seed=seed,
                           **TOY_METRICS)}
        _log(f"{task.name} scale {scale}: SW2 {row['sliced_w2']:.4f} adherence {row.get('adherence', float('nan')):.3f}")
        rows.append(row)
    return {"task": task.name, "sampler": f"{sampler}-{steps}", "n": n, "seed": seed, "rows": rows}


def _mnist_reference(task: MnistTask) -> torch.Tensor:
    """Classifier features of the held-out digits, computed once per task."""
    if task.reference_features is None:
        task.reference_features, _ = classifier_outputs(task.classifier, task.heldout)
    return task.reference_features


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


FLOOR_DRAWS = 5


def _mnist_floor(task: MnistTask, ref_feats: torch.Tensor, y: torch.Tensor, seed: int,
                 draws: int = FLOOR_DRAWS) -> dict:
    """Real training digits with the samples' labels (same n, same classes), scored like samples: the best a
    generator can do at this n. Mean over `draws` random draws, with the spread of classifier-FID (`cfid_sd`).

    The label pattern matters: at n = 50, randomly drawn digits (unequal class counts) scored cFID ~280 against
    ~190 for class-balanced ones, so a floor drawn differently from the samples would be no floor at all."""
    g = torch.Generator().manual_seed(seed)
    reports = [mnist_report(task.classifier, task.train[idx], y, ref_feats)
               for idx in (_balanced_draw(task.train_labels, y, g) for _ in range(draws))]
    floor = {k: sum(r[k] for r in reports) / draws for k in reports[0] if isinstance(reports[0][k], (int, float))}
    cfids = torch.tensor([r["cfid"] for r in reports], dtype=torch.float64)
    floor["cfid_sd"] = float(cfids.std()) if draws > 1 else 0.0
    floor["draws"] = draws
    return floor


def mnist_nfe_sweep(task: MnistTask, ladder: dict[str, list[int]], n: int, scale: float, seed: int = 0,
                    keep: dict | None = None) -> dict:
    """Class-conditional MNIST samples (n / 10 per digit) from every (sampler, steps): classifier metrics vs held-out."""
    ref_feats = _mnist_reference(task)
    y = torch.arange(n) % 10
    x_T = _noise(n, tuple(task.model.sample_shape), seed)
    rows = []
    for sampler, label, model, steps in _ladder(task, ladder, scale):
        x, nfe, secs = run_sampler(sampler, model, task.schedule, x_T, steps, y=y, scale=scale, seed=seed)
        row = {"sampler": label, "steps": steps, "nfe": nfe, "seconds": secs,
               **mnist_report(task.classifier, x, y, ref_feats, train=task.train, heldout=task.heldout)}
        _log(f"{task.name} {label}-{steps}: cFID {row['cfid']:.2f} acc {row['accuracy']:.3f} ({secs:.1f} s)")
        rows.append(row)
        if keep is not None:
            keep[f"{label}-{steps}"] = x[:20]
    return {"task": task.name, "n": n, "seed": seed, "guidance_scale": scale, "model": task.info,
            "data_floor": _mnist_floor(task, ref_feats, y, seed), "rows": rows}


def mnist_guidance_sweep(task: MnistTask, scales: list[float], sampler: str, steps: int, n: int, seed: int = 0,
                         keep: dict | None = None) -> dict:
    """MNIST at each guidance scale (same x_T, same labels): accuracy, diversity, classifier-FID, saturation."""
    ref_feats = _mnist_reference(task)
    y = torch.arange(n) % 10
    x_T = _noise(n, tuple(task.model.sample_shape), seed)
    rows = []
    for scale in scales:
        x, nfe, secs = run_sampler(sampler, task.model, task.schedule, x_T, steps, y=y, scale=scale, seed=seed)
        row = {"scale": scale, "nfe": nfe, "seconds": secs,
               **mnist_report(task.classifier, x, y, ref_feats, train=task.train, heldout=task.heldout)}
        _log(f"{task.name} scale {scale}: acc {row['accuracy']:.3f} div {row['diversity']:.2f} cFID {row['cfid']:.2f} "
             f"sat {row['saturation']:.4f} ({secs:.1f} s)")
        rows.append(row)
        if keep is not None:
            keep[scale] = x[:20]
    return {"task": task.name, "sampler": f"{sampler}-{steps}", "n": n, "seed": seed,
            "data_floor": _mnist_floor(task, ref_feats, y, seed), "rows": rows}
