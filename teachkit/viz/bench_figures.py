"""The benchmarks' figures (`python -m teachkit bench`): quality vs NFE per sampler, guidance sweeps, sample grids.

Each is a pyplot-free Figure (figures.new_figure, the Agg canvas) written to a PNG, so importing or
running the benchmarks leaves matplotlib's backend and pyplot's figures as they were.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .figures import new_figure

__all__ = ["plot_nfe", "plot_guidance", "plot_grid"]

MARKERS = {"DDPM": "o", "DDPM (large var)": "x", "DDIM": "s", "DPM-Solver++(2M)": "^", "Euler": "v", "Heun": "D",
           "Distilled": "*"}  # by teachkit.SAMPLERS name; others get "."


def _panels(rows: int, columns: int, figsize: tuple[float, float], layout: str | None = "tight"):
    """A figure of rows x columns axes (always 2-D), laid out when saved (layout None: placed by subplots_adjust)."""
    fig = new_figure(figsize, layout=layout)
    return fig, fig.subplots(rows, columns, squeeze=False)


def _finish(fig, axes, title: str, path: Path, legend_size: int) -> None:
    """Legend on the first panel, a title, then write the PNG."""
    axes[0][0].legend(fontsize=legend_size)
    fig.suptitle(title)
    fig.savefig(path, dpi=110)


def plot_nfe(sweeps: list[dict], metrics: list[tuple[str, str]], path: Path, title: str) -> None:
    """One panel per metric, one line per sampler, NFE on a log axis; dashed: real data scored the same way."""
    fig, axes = _panels(len(sweeps), len(metrics), (4.2 * len(metrics), 3.4 * len(sweeps)))
    for r, sweep in enumerate(sweeps):
        for c, (key, label) in enumerate(metrics):
            ax = axes[r][c]
            for sampler in dict.fromkeys(row["sampler"] for row in sweep["rows"]):
                rows = [row for row in sweep["rows"] if row["sampler"] == sampler and row.get(key) is not None]
                ax.plot([row["nfe"] for row in rows], [row[key] for row in rows], marker=MARKERS.get(sampler, "."),
                        label=sampler)
            floor = sweep.get("data_floor", {}).get(key)
            if floor is not None:
                ax.axhline(floor, color="gray", ls="--", lw=1, label="real data")
            ax.set_xscale("log")
            ax.set_xlabel("network evaluations per sample (NFE)")
            ax.set_ylabel(label)
            ax.set_title(f"{sweep['task']} (n={sweep['n']})", fontsize=9)
            ax.grid(alpha=0.3)
    _finish(fig, axes, title, path, legend_size=8)


def plot_guidance(sweeps: list[dict], metrics: list[tuple], path: Path, title: str) -> None:
    """One panel per (key, label[, y scale]) against the guidance scale (0 = unconditional, 1 = plain conditional)."""
    fig, axes = _panels(1, len(metrics), (4.0 * len(metrics), 3.4))
    for c, (key, label, *yscale) in enumerate(metrics):
        ax = axes[0][c]
        for sweep in sweeps:
            rows = [row for row in sweep["rows"] if row.get(key) is not None]
            ax.plot([row["scale"] for row in rows], [row[key] for row in rows], marker="o",
                    label=f"{sweep['task']}, {sweep['sampler']}")
            floor = sweep.get("data_floor", {}).get(key)
            if floor is not None:
                ax.axhline(floor, color="gray", ls="--", lw=1, label="real data")
        ax.set_xlabel("guidance scale")
        ax.set_ylabel(label)
        if yscale:
            ax.set_yscale(yscale[0])
        ax.grid(alpha=0.3)
    _finish(fig, axes, title, path, legend_size=7)


def plot_grid(rows: dict, path: Path, title: str, columns: int = 10) -> None:
    """A grid of MNIST samples: one row per setting (first `columns` samples: digits 0..9), clipped to [-1, 1]."""
    if not rows:
        return
    fig, axes = _panels(len(rows), columns, (columns * 0.7, len(rows) * 0.75 + 0.5), layout=None)
    for r, (name, x) in enumerate(rows.items()):
        for c in range(columns):
            ax = axes[r][c]
            ax.axis("off")
            if c < x.shape[0]:
                ax.imshow(torch.as_tensor(x[c, 0]).clamp(-1, 1).numpy(), cmap="gray", vmin=-1, vmax=1)
        axes[r][0].text(-4, 14, str(name), ha="right", va="center", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.18, wspace=0.05, hspace=0.05)
    fig.savefig(path, dpi=110)
