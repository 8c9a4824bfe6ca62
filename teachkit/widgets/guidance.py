"""The guidance sweep: one scale control redraws a row of samples per class, with an optional metric, drawn in the browser."""
from __future__ import annotations

import html
from typing import Callable

import numpy as np
import torch
import traitlets as T

from .. import viz
from ..samplers import spec_of
from .cache import BoundedCache
from .canvas import f16, u8_images
from .frames import model_device
from .menu import ALIASES, default_samplers
from .runner import run_sampler
from .sampled import SampledWidget

__all__ = ["GuidanceSweep"]


def _fmt(value) -> str:
    """A metric value for the readout: ints as they are, other numbers to 3 significant digits."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    try:
        return f"{float(value):.3g}"
    except (TypeError, ValueError):
        return html.escape(str(value))


class GuidanceSweep(SampledWidget):
    """Samples of every class at one guidance scale (CFG, Ho & Salimans 2022), re-drawn as the scale moves.

    `metric(samples, labels)` may return a number or a dict of named numbers, printed beside the plot, e.g.
    `metric=lambda x, y: teachkit.metrics.mnist_report(classifier, x, y, reference_features)`.
    Defaults: 8 samples per class, DDIM 25 steps; a re-sample streams its steps, a newer scale cancels
    it, and while idle scale +- 0.5 is prefetched into the cache that `sample()` shares.
    """

    scale = T.Float(3.0).tag(sync=True)
    is_2d = T.Bool(True).tag(sync=True)
    shape = T.List(T.Int()).tag(sync=True)  # (B, 2) or (B, H, W)
    samples = T.Bytes(b"").tag(sync=True)
    label_bytes = T.Bytes(b"").tag(sync=True)  # uint8 class per sample
    nrow = T.Int(8).tag(sync=True)
    lim = T.Float(4.0).tag(sync=True)
    title = T.Unicode("").tag(sync=True)
    readout = T.Unicode("").tag(sync=True)

    def __init__(self, model, schedule, *, n_per_class: int = 8, steps: int = 25, sampler: str = "DDIM",
                 scale: float = 3.0, metric: Callable | None = None, seed: int = 0, cache_size: int = 16,
                 live=None, samplers: dict | None = None, prefetch: bool | None = None) -> None:
        self.num_classes = getattr(model, "num_classes", None)
        if not self.num_classes:
            raise ValueError(f"GuidanceSweep needs a class-conditional model (num_classes), got {type(model).__name__}")
        if not 0.0 <= scale <= 30.0:
            raise ValueError(f"scale={scale}: the guidance slider runs from 0 (unconditional) to 30")
        shape = tuple(getattr(model, "sample_shape", (2,)))
        super().__init__(kind="sweep", is_2d=shape == (2,), nrow=int(n_per_class))
        self.model, self.schedule, self.steps, self.metric = model, schedule, int(steps), metric
        samplers = {name: spec_of(s, name) for name, s in (samplers or default_samplers(model)).items()}
        sampler = sampler if sampler in samplers else ALIASES.get(sampler, sampler)
        if sampler not in samplers:
            raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(samplers)}")
        self.sampler_name = sampler
        self.sampler_fn = samplers[sampler]
        self.n_per_class = int(n_per_class)
        self.labels = torch.arange(self.num_classes).repeat_interleave(self.n_per_class)  # one row per class
        gen = torch.Generator().manual_seed(seed)
        self.x_T = torch.randn((len(self.labels), *shape), generator=gen).to(model_device(model))
        self.result = None
        self.label_bytes = self.labels.numpy().astype(np.uint8).tobytes()
        self._start_sampling(BoundedCache(cache_size), prefetch)
        self.scale = float(scale)
        self._request(sync=True)

    def sample(self, scale: float) -> tuple[torch.Tensor, int, dict]:
        """Samples of every class at `scale`, their NFE and metric; cached, so a lesson's sweep and the slider share results."""
        scale = float(scale)
        with self._lock:
            if scale in self.cache:
                return self.cache.get(scale)
            self.cache.misses += 1
        value = self._sample(scale)
        with self._lock:
            self.cache.put(scale, value)
        return value

    def _sample(self, scale: float, on_step: Callable | None = None) -> tuple[torch.Tensor, int, dict]:
        """Sample every class at `scale` with the chosen public sampler, and score it with the metric."""
        with torch.inference_mode():
            traj = run_sampler(self.sampler_fn, self.model, self.schedule, self.x_T, steps=self.steps, y=self.labels,
                               guidance_scale=scale, generator=torch.Generator().manual_seed(1), record=False,
                               on_step=on_step)
        x0 = traj.sample.cpu()
        scores = {}
        if self.metric is not None:
            value = self.metric(x0, self.labels)
            scores = value if isinstance(value, dict) else {getattr(self.metric, "__name__", "metric"): value}
        return x0, int(traj.nfe), scores

    def _encode(self, x: torch.Tensor) -> bytes:
        return f16(viz.as_numpy(x)) if self.is_2d else u8_images(viz.as_numpy(x))

    @T.observe("scale")
    def _on_scale(self, change) -> None:
        if hasattr(self, "runner"):
            self._request()

    # ---- SampledWidget's hooks: a setting is the scale ----------------------------------------------
    def _setting(self) -> float:
        return float(self.scale)

    def _sampling_status(self, scale: float) -> str:
        return f"sampling {self.num_classes} classes at scale {scale:g}"

    def _steps_of(self, scale: float) -> int:
        return self.steps

    def _partial(self, x, x0_hat) -> list[bytes]:
        return [self._encode(x if x0_hat is None else x0_hat)]

    def _publish(self, scale: float, value, gen: int, how: str = "from the cache") -> None:
        x0, nfe, scores = value
        rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{_fmt(v)}</td></tr>" for k, v in scores.items())
        with self.hold_sync():
            self.shape = list(x0.shape) if self.is_2d else [x0.shape[0], x0.shape[-2], x0.shape[-1]]
            self.samples = self._encode(x0)
            self.title = f"{self.sampler_name} {self.steps} steps, scale {scale:g}, NFE {nfe}"
            self.readout = f"<table class='tk-readout-table'>{rows}</table>" if rows else ""
            self._published(gen, f"{self.num_classes} classes at scale {scale:g}: {how}")
        self.result = value
        self._shown(scale)

    def _neighbour_settings(self, scale: float) -> list[float]:
        return [s for s in (scale + 0.5, scale - 0.5) if 0.0 <= s <= 30.0]

    def _restore(self, scale: float) -> str:
        self.scale = scale
        return f"scale {scale:g}"

    def figure(self):
        """The samples on screen as a matplotlib figure (the static fallback)."""
        fig = viz.new_figure((5.0, 5.0), dpi=72)
        ax = fig.add_subplot()
        if self.result is not None:
            x0 = self.result[0]
            if self.is_2d:
                ax.scatter(*x0.numpy().T, s=8, linewidths=0,
                           c=viz.CLASS_COLORS[self.labels.numpy() % len(viz.CLASS_COLORS)])
                ax.set(xlim=(-self.lim, self.lim), ylim=(-self.lim, self.lim), aspect="equal")
            else:
                viz.show_grid(x0, ax, nrow=self.n_per_class)
        ax.set_title(self.title, fontsize="small")
        return fig
