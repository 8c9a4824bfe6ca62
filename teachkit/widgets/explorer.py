"""The trajectory explorer's controls and logic, shared by the 2-D and the image views."""
from __future__ import annotations

import inspect
import time
from typing import Callable

import ipywidgets as W
import matplotlib
import torch

from .. import viz
from ._base import BoundedCache, FigureHost, StatusBar, guarded, png_bundle
from .frames import Frames, check_start, default_samplers, fixed_scale, model_device

__all__ = ["TrajectoryExplorerBase"]

MIXED, UNCOND = "mixed", "unconditional"


class TrajectoryExplorerBase(W.VBox):
    """Sampler / steps / eta / scale / class controls, a cached re-sample, and a Play-linked frame slider."""

    figsize = (6.0, 5.0)

    def __init__(self, model, schedule, *, n: int, sample_shape: tuple[int, ...], sampler: str = "DDIM",
                 steps: int = 50, eta: float = 0.0, scale: float = 3.0, cls="mixed", seed: int = 0,
                 classes: tuple[int, ...] | None = None,
                 samplers: dict[str, Callable] | None = None, cache_size: int = 8,
                 cache_bytes: int = 256 * 2**20, live: bool | None = None, max_steps: int = 1000) -> None:
        super().__init__()
        if n < 1:
            raise ValueError(f"n={n}: the explorer needs at least one sample")
        check_start(steps, eta, scale, min(max_steps, schedule.T))
        self.model, self.schedule, self.n, self.seed = model, schedule, int(n), int(seed)
        self.samplers = samplers or default_samplers()
        if sampler not in self.samplers:
            raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(self.samplers)}")
        self.num_classes = getattr(model, "num_classes", None)
        # the labels "mixed" cycles through (e.g. chosen digits); all classes by default
        self.classes = tuple(range(self.num_classes or 0)) if classes is None else tuple(int(c) for c in classes)
        if self.num_classes and (not self.classes or not all(0 <= c < self.num_classes for c in self.classes)):
            raise ValueError(f"classes={classes}: each must lie in 0 .. {self.num_classes - 1}")
        gen = torch.Generator().manual_seed(self.seed)
        # the same x_T for every setting, so particles move continuously as the controls change
        self.x_T = torch.randn((self.n, *sample_shape), generator=gen).to(model_device(model))
        self.cache = BoundedCache(cache_size, cache_bytes, sizeof=lambda frames: frames.nbytes)
        self.bar = StatusBar()
        self.host = FigureHost(self.figsize, live=live)
        self.frames: Frames | None = None
        self._quiet = False
        self._build_controls(sampler, steps, eta, scale, cls, min(max_steps, schedule.T))
        self.view = self._make_view(self.host.fig)
        viz.freeze_layout(self.host.fig)
        self.children = [self.controls, self.host.widget, W.HBox([self.play, self.frame]), self.bar.widget]
        self.add_class("teachkit-explorer")
        self._on_params()

    # ---- layout -------------------------------------------------------------------------------
    def _build_controls(self, sampler, steps, eta, scale, cls, max_steps) -> None:
        style, lay = {"description_width": "60px"}, W.Layout(width="300px")
        self.sampler = W.Dropdown(options=list(self.samplers), value=sampler, description="sampler",
                                  style=style, layout=lay)
        self.steps = W.IntSlider(value=steps, min=1, max=max_steps, description="steps",
                                 continuous_update=False, style=style, layout=lay)
        self.eta = W.FloatSlider(value=eta, min=0.0, max=1.0, step=0.05, description="eta",
                                 continuous_update=False, style=style, layout=lay)
        self.scale = W.FloatSlider(value=scale, min=0.0, max=30.0, step=0.5, description="scale",
                                   continuous_update=False, style=style, layout=lay)
        options = [(UNCOND, UNCOND)]
        if self.num_classes:
            options = [(MIXED, MIXED), (UNCOND, UNCOND)] + [(f"class {k}", k) for k in range(self.num_classes)]
        self.cls = W.Dropdown(options=options, value=cls if self.num_classes else UNCOND, description="class",
                              style=style, layout=lay)
        self.frame = W.IntSlider(value=0, min=0, max=1, description="frame", continuous_update=True,
                                 style=style, layout=W.Layout(width="420px"))
        self.play = W.Play(value=0, min=0, max=1, interval=80, description="play")
        # Play animates in the browser (no kernel loop); the kernel only sees frame.value change
        self.link = W.jslink((self.play, "value"), (self.frame, "value"))
        for control in (self.sampler, self.steps, self.eta, self.scale, self.cls):
            control.add_class(f"teachkit-{control.description}")
            control.observe(self._on_params, names="value")
        self.frame.add_class("teachkit-frame")
        self.play.add_class("teachkit-play")
        self.frame.observe(self._on_frame, names="value")
        self.controls = W.HBox([W.VBox([self.sampler, self.steps, self.eta]), W.VBox([self.cls, self.scale])])

    def _make_view(self, fig):
        """Subclass hook: create the figure's artists once; returns the object _draw_frame updates."""
        raise NotImplementedError

    def _set_trajectory(self, frames: Frames) -> None:
        """Subclass hook: update artists that depend on the whole trajectory (paths, colors)."""

    def _draw_frame(self, frames: Frames, k: int, title: str) -> None:
        raise NotImplementedError

    # ---- parameters and sampling --------------------------------------------------------------
    def params(self) -> tuple:
        """The cache key: every setting that changes the trajectory."""
        fn = self.samplers[self.sampler.value]
        eta = float(self.eta.value) if "eta" in inspect.signature(fn).parameters else None
        cls = self.cls.value
        fixed = fixed_scale(fn)  # a distilled student's scale is baked in
        scale = None if cls == UNCOND else float(self.scale.value if fixed is None else fixed)
        return (self.sampler.value, int(self.steps.value), eta, scale, cls, self.seed)

    def labels(self, cls) -> torch.Tensor | None:
        """Class labels for the batch: one class, all classes in turn ('mixed'), or None (unconditional)."""
        if cls == UNCOND:
            return None
        if cls == MIXED:
            return torch.tensor(self.classes)[torch.arange(self.n) % len(self.classes)]
        return torch.full((self.n,), int(cls), dtype=torch.long)

    def sample(self, params: tuple) -> Frames:
        """Run the chosen public sampler once for `params` (uncached) and keep its frames as numpy."""
        name, steps, eta, scale, cls, seed = params
        y = self.labels(cls)
        extra = {} if eta is None else {"eta": eta}
        gen = torch.Generator(device=self.x_T.device).manual_seed(seed + 1)
        start = time.perf_counter()
        traj = self.samplers[name](self.model, self.schedule, self.x_T, steps=steps, y=y,
                                   guidance_scale=1.0 if scale is None else scale, generator=gen,
                                   record=True, **extra)
        seconds = time.perf_counter() - start
        return Frames(viz.as_numpy(traj.xs), viz.as_numpy(traj.x0_hats), traj.timesteps.cpu().numpy(),
                      int(traj.nfe), None if y is None else y.numpy(), seconds)

    @staticmethod
    def _describe(key: tuple) -> str:
        name, steps, eta, scale, cls, _ = key
        guide = "unconditional" if scale is None else f"{cls}, scale {scale:g}"
        return f"{name}, {steps} steps{'' if eta is None else f', eta {eta:g}'}, {guide}"

    @guarded
    def _on_params(self, change=None) -> None:
        self.eta.disabled = self.params()[2] is None
        self.scale.disabled = self.cls.value == UNCOND or fixed_scale(self.samplers[self.sampler.value]) is not None
        key = self.params()
        with self.bar.busy(self._describe(key)):
            self.frames = self.cache.get_or_compute(key, lambda: self.sample(key))
        self._set_trajectory(self.frames)
        s = self.frames.steps
        self._quiet = True  # move the slider without drawing every intermediate frame
        try:
            self.frame.max = self.play.max = s
            self.frame.value = s
            self.play.step = max(1, s // 50)
        finally:
            self._quiet = False
        self.show_frame(s)

    @guarded
    def _on_frame(self, change) -> None:
        if not self._quiet:
            self.show_frame(int(change["new"]))

    def show_frame(self, k: int) -> None:
        """Index the precomputed trajectory at frame k and update the artists in place (no sampling)."""
        f = self.frames
        t = f"t={f.timesteps[k]}" if k < f.steps else "clean"
        _, steps, _, scale, cls, _ = self.params()
        guide = "unconditional" if scale is None else f"{cls if cls == MIXED else 'class ' + str(cls)}, scale {scale:g}"
        title = f"{self.sampler.value} {steps} steps, {guide}, NFE {f.nfe}\nframe {k}/{f.steps} ({t})"
        self._draw_frame(f, k, title)
        self.host.refresh()

    # ---- export -------------------------------------------------------------------------------
    def to_animation(self, path: str | None = None, max_frames: int = 30, interval: int = 150):
        """A static export of the current trajectory: HTML (JS player) to display, or a file (.gif/.html)."""
        from IPython.display import HTML

        fig = viz.new_figure(self.figsize, dpi=72)
        live_host, live_view = self.host, self.view
        self.host, self.view = _StaticHost(fig), self._make_view(fig)
        viz.freeze_layout(fig)
        try:
            self._set_trajectory(self.frames)
            anim = viz.animate(fig, self.show_frame, self.frames.steps + 1, max_frames, interval)
            if path is None or str(path).endswith(".html"):
                with matplotlib.rc_context({"animation.frame_format": "jpeg"}):  # ~3x smaller than PNG
                    page = viz.animation_html(anim)
                if path is None:
                    return HTML(page)
                with open(path, "w") as fh:
                    fh.write(page)
            else:
                anim.save(path, writer="pillow", fps=max(1, 1000 // interval))
            return path
        finally:
            self.host, self.view = live_host, live_view

    def _repr_mimebundle_(self, **kwargs):
        return png_bundle(super()._repr_mimebundle_(**kwargs), self.host.png())

    def close(self) -> None:
        """Close the widgets and the figure."""
        if hasattr(self, "host"):  # close() also runs from __del__ after a failed __init__
            self.host.close()
        super().close()


class _StaticHost:
    """A stand-in FigureHost for exports: FuncAnimation renders, so refresh does nothing."""

    def __init__(self, fig) -> None:
        self.fig, self.renders = fig, 0

    def refresh(self) -> None:
        self.renders += 1
