"""`python -m teachkit sample NAME --sampler S --steps N` and `evaluate NAME --sampler S --steps N`: any registry sampler on a shipped model.

argparse parses, matplotlib draws the grid, teachkit.metrics scores; the sampler comes from teachkit.SAMPLERS.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

__all__ = ["add_sampler_arguments", "cmd_sample", "evaluate_sampler"]


def add_sampler_arguments(p: argparse.ArgumentParser, *, required: bool) -> None:
    """--sampler / --steps / --scale, choices from the registry."""
    from teachkit.samplers import SAMPLERS

    p.add_argument("--sampler", choices=list(SAMPLERS), required=required, default=None,
                   help="a teachkit.SAMPLERS name (default: DDIM; Distilled for a distilled student, Flow (Euler) for a flow model)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: the sampler's default_steps)")
    p.add_argument("--scale", type=float, default=None,
                   help="guidance scale (default 3 for a class-conditional model; a student's scale is baked in)")


def _choose(model, sampler: str | None, steps: int | None, scale: float | None):
    """(spec, steps, keywords) for `model`, with a clear error when the sampler cannot read it."""
    from teachkit.samplers import get_sampler, samplers_for

    usable = samplers_for(model)
    # DDIM for a diffusion model; a student's or a flow model's first sampler otherwise
    name = sampler or ("DDIM" if "DDIM" in usable else next(iter(usable)))
    spec = get_sampler(name)
    if name not in usable:
        raise ValueError(f"--sampler {name} cannot sample this model; its samplers are: {', '.join(usable)}")
    steps = spec.default_steps if steps is None else steps
    conditional = bool(getattr(model, "num_classes", None))
    if not spec.guided and scale is not None:
        raise ValueError(f"--scale: {name} has its guidance scale baked in at distillation; drop --scale")
    kw = {"guidance_scale": 3.0 if scale is None else scale} if spec.guided and conditional else {}
    if not conditional and scale not in (None, 1.0):
        raise ValueError("--scale needs a class-conditional model: this one is unconditional")
    return spec, steps, kw


def _samples(model, schedule, spec, steps, kw, y, n, seed):
    import torch

    x_T = torch.randn((n, *model.sample_shape), generator=torch.Generator().manual_seed(seed))
    t0 = time.perf_counter()
    traj = spec.fn(model, schedule, x_T, steps=steps, y=y, generator=torch.Generator().manual_seed(seed + 1),
                   record=False, **kw)
    return traj, time.perf_counter() - t0


def cmd_sample(args: argparse.Namespace, load) -> int:
    """Draw --n samples of NAME with the chosen sampler; print what was done, save a grid/scatter with --out."""
    import torch

    from teachkit import viz

    if args.threads:
        torch.set_num_threads(args.threads)
    model, schedule, info = load(args.name)
    if schedule is None:
        raise ValueError(f"{args.name} is not a generative model (it has no noise schedule)")
    spec, steps, kw = _choose(model, args.sampler, args.steps, args.scale)
    num_classes = getattr(model, "num_classes", None)
    if args.label is not None and not num_classes:
        raise ValueError("--class needs a class-conditional model: this one is unconditional")
    y = None
    if num_classes:
        y = torch.full((args.n,), args.label) if args.label is not None else torch.arange(args.n) % num_classes
    traj, seconds = _samples(model, schedule, spec, steps, kw, y, args.n, args.seed)
    scale = kw.get("guidance_scale", info.get("guidance_scale"))
    print(f"{args.name}: {args.n} samples, {spec.name} {traj.steps} steps"
          + (f", scale {scale:g}" if scale is not None else "") + f", NFE {traj.nfe} per sample (counted), "
          f"{seconds:.2f} s on {torch.get_num_threads()} thread(s)")
    if args.out:
        fig = viz.new_figure((5.0, 5.0), dpi=100)
        ax = fig.add_subplot()
        title = f"{args.name}: {spec.name} {traj.steps} steps, NFE {traj.nfe}"
        x = traj.sample.cpu()
        if x.ndim == 4:
            viz.show_grid(x, ax, title=title)
        else:
            colors = None if y is None else viz.CLASS_COLORS[y.numpy() % len(viz.CLASS_COLORS)]
            ax.scatter(x[:, 0], x[:, 1], s=4, c=colors, linewidths=0)
            ax.set(aspect="equal", title=title)
        fig.savefig(args.out)
        print(f"wrote {args.out}")
    return 0


def evaluate_sampler(model, schedule, info: dict, sampler: str | None, steps: int | None, scale: float | None, *,
                     n: int | None = None, seed: int = 0, classifier=None) -> dict:
    """Quality of one (sampler, steps, scale) on a shipped model: toy metrics vs fresh moons, or MNIST accuracy / cFID."""
    import torch

    from teachkit.datasets import toy, toy_class_log_prob, toy_log_prob
    from teachkit.metrics import mnist_report, toy_report

    spec, steps, kw = _choose(model, sampler, steps, scale)
    out = {"sampler": spec.name, "steps": steps, **({"guidance_scale": kw["guidance_scale"]} if kw else {}),
           "seed": seed}
    if tuple(model.sample_shape) == (2,):
        n = n or 2000
        x_ref, y_ref = toy("moons", n, seed=seed + 12345)
        y = y_ref if getattr(model, "num_classes", None) else None
        traj, seconds = _samples(model, schedule, spec, steps, kw, y, n, seed)
        report = toy_report(traj.sample.cpu(), x_ref, log_prob=lambda p: toy_log_prob("moons", p), y=y,
                            class_log_prob=lambda p: toy_class_log_prob("moons", p), seed=seed)
    else:
        from teachkit.metrics import classifier_outputs
        from teachkit.datasets import mnist_tensors

        n = n or 200
        heldout, _ = mnist_tensors("test")
        reference = classifier_outputs(classifier, heldout)[0]
        y = torch.arange(n) % model.num_classes
        traj, seconds = _samples(model, schedule, spec, steps, kw, y, n, seed)
        report = mnist_report(classifier, traj.sample.cpu(), y, reference)
    out.update({"samples": n, "nfe": traj.nfe, "seconds": round(seconds, 2)})
    out.update({k: (round(v, 4) if isinstance(v, float) else v) for k, v in report.items()})
    return out


def print_json(result: dict) -> None:
    print(json.dumps(result, indent=1))
