"""`python -m teachkit sample NAME --sampler S --steps N`: any registry sampler on a shipped model.

argparse parses, matplotlib draws the grid; the sampler comes from teachkit.SAMPLERS, chosen for the model as
`teachkit.evaluate` chooses it (teachkit.evaluation.choose_sampler; `evaluate --sampler` is teachkit.evaluation.cli).
"""
from __future__ import annotations

import argparse

__all__ = ["add_sampler_arguments", "cmd_sample"]


def add_sampler_arguments(p: argparse.ArgumentParser, *, required: bool) -> None:
    """--sampler / --steps / --scale, choices from the registry."""
    from teachkit.samplers import SAMPLERS

    p.add_argument("--sampler", choices=list(SAMPLERS), required=required, default=None,
                   help="a teachkit.SAMPLERS name (default: DDIM; Distilled for a distilled student, Flow (Euler) for a flow model)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: the sampler's default_steps)")
    p.add_argument("--scale", type=float, default=None,
                   help="guidance scale (default 3 for a class-conditional model; a student's scale is baked in)")


def cmd_sample(args: argparse.Namespace, load) -> int:
    """Draw --n samples of NAME with the chosen sampler; print what was done, save a grid/scatter with --out."""
    import torch

    from teachkit import viz
    from teachkit.evaluation import choose_sampler
    from teachkit.evaluation.scoring import noise, run_sampler

    if args.threads:
        torch.set_num_threads(args.threads)
    model, schedule, info = load(args.name)
    if schedule is None:
        raise ValueError(f"{args.name} is not a generative model (it has no noise schedule)")
    spec, steps, scale = choose_sampler(model, info, args.sampler, args.steps, args.scale)
    num_classes = getattr(model, "num_classes", None)
    if args.label is not None and not num_classes:
        raise ValueError("--class needs a class-conditional model: this one is unconditional")
    y = None
    if num_classes:
        y = torch.full((args.n,), args.label) if args.label is not None else torch.arange(args.n) % num_classes
    x, nfe, seconds = run_sampler(spec, model, schedule, noise(args.n, tuple(model.sample_shape), args.seed), steps,
                                  y=y, scale=scale if spec.guided else None, seed=args.seed)
    print(f"{args.name}: {args.n} samples, {spec.name} {steps} steps"
          + (f", scale {scale:g}" if scale is not None else "") + f", NFE {nfe} per sample (counted), "
          f"{seconds:.2f} s on {torch.get_num_threads()} thread(s)")
    if args.out:
        fig = viz.new_figure((5.0, 5.0), dpi=100)
        ax = fig.add_subplot()
        title = f"{args.name}: {spec.name} {steps} steps, NFE {nfe}"
        if x.ndim == 4:
            viz.show_grid(x, ax, title=title)
        else:
            colors = None if y is None else viz.CLASS_COLORS[y.numpy() % len(viz.CLASS_COLORS)]
            ax.scatter(x[:, 0], x[:, 1], s=4, c=colors, linewidths=0)
            ax.set(aspect="equal", title=title)
        fig.savefig(args.out)
        print(f"wrote {args.out}")
    return 0
