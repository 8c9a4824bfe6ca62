"""The guidance sweep: one scale control redraws a row of samples per class, with an optional metric."""
from __future__ import annotations

import html
from typing import Callable

import ipywidgets as W
import numpy as np
import torch

from .. import viz
from ._base import BoundedCache, FigureHost, StatusBar, guarded, png_bundle
from .frames import default_samplers, model_device

__all__ = ["GuidanceSweep"]


def _fmt(value) -> str:
    """A metric value for the readout: ints as they are, other numbers to 3 significant digits."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    try:
        return f"{float(value):.3g}"
    except (TypeError, ValueError):
        return html.escape(str(value))


class GuidanceSweep(W.VBox):
    """Samples of every class at one guidance scale (CFG, Ho & Salimans 2022), re-drawn as the scale moves.

    `metric(samples, labels)` may return a number or a dict of named numbers, printed beside the plot, e.g.
    `metric=lambda x, y: teachkit.metrics.mnist_report(classifier, x, y, reference_features)`.
    """

    def __init__(self, model, schedule, *, n_per_class: int = 8, steps: int = 25, sampler: str = "DDIM",
                 scale: float = 3.0, metric: Callable | None = None, seed: int = 0, cache_size: int = 16,
                 live: bool | None = None, samplers: dict | None = None) -> None:
        super().__init__()
        self.num_classes = getattr(model, "num_classes", None)
        if not self.num_classes:
            raise ValueError(f"GuidanceSweep needs a class-conditional model (num_classes), got {type(model).__name__}")
        self.model, self.schedule, self.steps, self.metric = model, schedule, int(steps), metric
        self.sampler_name = sampler
        self.sampler_fn = (samplers or default_samplers())[sampler]
        shape = tuple(getattr(model, "sample_shape", (2,)))
        self.is_2d = shape == (2,)
        self.n_per_class = int(n_per_class)
        self.labels = torch.arange(self.num_classes).repeat_interleave(self.n_per_class)  # one row per class
        gen = torch.Generator().manual_seed(seed)
        self.x_T = torch.randn((len(self.labels), *shape), generator=gen).to(model_device(model))
        self.cache = BoundedCache(cache_size)
        self.bar = StatusBar()
        self.host = FigureHost((5.0, 5.0), live=live)
        self.scale = W.FloatSlider(value=scale, min=0.0, max=30.0, step=0.5, description="scale",
                                   continuous_update=False, layout=W.Layout(width="400px"))
        self.scale.add_class("teachkit-scale")
        self.readout = W.HTML("")
        self.scale.observe(self._update, names="value")
        self._build()
        viz.freeze_layout(self.host.fig)
        self.children = [self.scale, W.HBox([self.host.widget, self.readout]), self.bar.widget]
        self._update()

    def _build(self) -> None:
        ax = self.host.fig.add_subplot()
        if self.is_2d:
            self.view = ax.scatter(*self.x_T.cpu().T, s=8, linewidths=0,
                                   c=viz.CLASS_COLORS[self.labels.numpy() % len(viz.CLASS_COLORS)])
            ax.set(xlim=(-4, 4), ylim=(-4, 4), aspect="equal")
        else:
            self.view = viz.show_grid(self.x_T.cpu(), ax, nrow=self.n_per_class)
        self.title = ax.set_title(" ", fontsize="small")

    def sample(self, scale: float) -> tuple[torch.Tensor, int, dict]:
        """Samples of every class at `scale`, their NFE and metric; cached, so a lesson's sweep and the slider share results."""
        scale = float(scale)
        return self.cache.get_or_compute(scale, lambda: self._sample(scale))

    def _sample(self, scale: float) -> tuple[torch.Tensor, int, dict]:
        """Sample every class at `scale` with the chosen public sampler, and score it with the metric."""
        traj = self.sampler_fn(self.model, self.schedule, self.x_T, steps=self.steps, y=self.labels,
                               guidance_scale=scale, generator=torch.Generator().manual_seed(1), record=False)
        x0 = traj.sample.cpu()
        scores = {}
        if self.metric is not None:
            value = self.metric(x0, self.labels)
            scores = value if isinstance(value, dict) else {getattr(self.metric, "__name__", "metric"): value}
        return x0, int(traj.nfe), scores

    @guarded
    def _update(self, change=None) -> None:
        scale = float(self.scale.value)
        with self.bar.busy(f"sampling {self.num_classes} classes at scale {scale:g}"):
            x0, nfe, scores = self.sample(scale)
        if self.is_2d:
            self.view.set_offsets(x0.numpy())
        else:
            self.view.set_data(viz.make_grid(x0, self.n_per_class))
        self.title.set_text(f"{self.sampler_name} {self.steps} steps, scale {scale:g}, NFE {nfe}")
        rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{_fmt(v)}</td></tr>" for k, v in scores.items())
        self.readout.value = f"<table>{rows}</table>" if rows else ""
        self.host.refresh()

    def _repr_mimebundle_(self, **kwargs):
        return png_bundle(super()._repr_mimebundle_(**kwargs), self.host.png())
