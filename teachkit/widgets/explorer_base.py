"""The trajectory explorers' base class, TrajectoryExplorerBase: the sampler / steps / eta / scale / class controls.

TrajectoryExplorer2D (trajectory2d.py) and ImageTrajectoryExplorer (images.py) subclass it with their views.
The browser (teachkit/widgets/static/widgets.js) draws every frame and runs the frame slider and
Play; the kernel samples with the public samplers. What a setting is lives in controls.py, the
cached, streamed, prefetched re-sampling in sampled.py, the static figure and player in export.py.
"""
from __future__ import annotations

import time
from typing import Callable

import torch
import traitlets as T

from .. import viz
from ..samplers import spec_of
from . import controls, export
from .cache import BoundedCache
from .controls import MIXED, UNCOND
from .frames import Frames, model_device
from .menu import ALIASES, default_samplers, fixed_scale
from .runner import run_sampler
from .sampled import SampledWidget

__all__ = ["TrajectoryExplorerBase"]


class TrajectoryExplorerBase(SampledWidget):
    """Sampler / steps / eta / scale / class controls, a cached streamed re-sample, a browser-side frame slider and Play."""

    figsize = (6.0, 5.0)

    sampler = T.Unicode("DDIM").tag(sync=True)
    sampler_options = T.List(T.Unicode()).tag(sync=True)
    steps = T.Int(50).tag(sync=True)
    steps_ladder = T.List(T.Int()).tag(sync=True)
    eta = T.Float(0.0).tag(sync=True)
    eta_enabled = T.Bool(True).tag(sync=True)
    scale = T.Float(3.0).tag(sync=True)
    scale_enabled = T.Bool(True).tag(sync=True)
    scale_visible = T.Bool(True).tag(sync=True)
    cls = T.Union([T.Unicode(), T.Int()], default_value=MIXED).tag(sync=True)
    cls_options = T.List().tag(sync=True)
    # the trajectory shown: sent once per setting, as binary buffers
    frame = T.Int(0).tag(sync=True)
    shape = T.List(T.Int()).tag(sync=True)  # xs' shape (S + 1, B, ...)
    xs = T.Bytes(b"").tag(sync=True)
    x0_hats = T.Bytes(b"").tag(sync=True)
    labels = T.Bytes(b"").tag(sync=True)  # uint8 per sample, 255 = unconditional
    timesteps = T.List(T.Int()).tag(sync=True)
    title = T.Unicode("").tag(sync=True)
    play_fps = T.Int(0).tag(sync=True)  # 0: steps / 2 frames per second, at least 30 and at most 60

    def __init__(self, model, schedule, *, n: int, sample_shape: tuple[int, ...], sampler: str | None = None,
                 steps: int = 50, eta: float = 0.0, scale: float = 3.0, cls="mixed", seed: int = 0,
                 classes: tuple[int, ...] | None = None,
                 samplers: dict[str, Callable] | None = None, cache_size: int = 8,
                 cache_bytes: int = 256 * 2**20, max_steps: int = 1000, prefetch: bool | None = None,
                 live=None, **traits) -> None:
        super().__init__(**traits)
        if n < 1:
            raise ValueError(f"n={n}: the explorer needs at least one sample")
        max_steps = min(max_steps, schedule.T)
        controls.check_start(steps, eta, scale, max_steps)
        self.model, self.schedule, self.n, self.seed = model, schedule, int(n), int(seed)
        # name -> SamplerSpec: registry entries, a bound student (student_sampler), or a plain function (spec_of)
        self.samplers = {name: spec_of(s, name) for name, s in (samplers or default_samplers(model)).items()}
        if sampler is None:  # DDIM where the model takes it, else the menu's first (e.g. a flow model's Euler)
            sampler = "DDIM" if "DDIM" in self.samplers else next(iter(self.samplers))
        if sampler not in self.samplers:
            sampler = ALIASES.get(sampler, sampler)
        if sampler not in self.samplers:
            raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(self.samplers)}")
        self.num_classes = getattr(model, "num_classes", None)
        # the labels "mixed" cycles through (e.g. chosen digits); all classes by default
        self.classes = tuple(range(self.num_classes or 0)) if classes is None else tuple(int(c) for c in classes)
        if self.num_classes and (not self.classes or not all(0 <= c < self.num_classes for c in self.classes)):
            raise ValueError(f"classes={classes}: each must lie in 0 .. {self.num_classes - 1}")
        options = controls.class_options(self.num_classes)
        if self.num_classes and cls not in [v for _, v in options]:
            raise ValueError(f"cls={cls!r}: choose 'mixed', 'unconditional' or a class 0 .. {self.num_classes - 1}")
        gen = torch.Generator().manual_seed(self.seed)
        # the same x_T for every setting, so particles move continuously as the controls change
        self.x_T = torch.randn((self.n, *sample_shape), generator=gen).to(model_device(model))
        self.frames: Frames | None = None
        self._quiet = False
        with self.hold_trait_notifications():
            self.sampler_options = list(self.samplers)
            self.steps_ladder = controls.steps_ladder(steps, max_steps)
            self.cls_options = options
            self.sampler, self.steps, self.eta, self.scale = sampler, int(steps), float(eta), float(scale)
            self.cls = cls if self.num_classes else UNCOND
            self.scale_visible = bool(self.num_classes)
        self._start_sampling(BoundedCache(cache_size, cache_bytes, sizeof=lambda frames: frames.nbytes), prefetch)
        self._update_enabled()
        self._request(sync=True)  # the first trajectory is computed here, so the static figure has it

    # ---- subclass hooks -------------------------------------------------------------------------
    def _encode(self, frames: Frames) -> dict:
        """Subclass hook: the trajectory as synced traits (binary buffers) for the browser."""
        raise NotImplementedError

    def _make_view(self, fig):
        """Subclass hook (static figure): create the figure's artists once; returns the object _draw_frame updates."""
        raise NotImplementedError

    def _set_trajectory(self, view, frames: Frames) -> None:
        """Subclass hook (static figure): update artists that depend on the whole trajectory (paths, colors)."""

    def _draw_frame(self, view, frames: Frames, k: int, title: str) -> None:
        raise NotImplementedError

    # ---- parameters and sampling --------------------------------------------------------------
    def params(self) -> tuple:
        """The cache key: every setting that changes the trajectory."""
        return controls.setting(self.samplers[self.sampler], self.sampler, self.steps, self.eta, self.scale, self.cls,
                                self.seed)

    def labels_for(self, cls) -> torch.Tensor | None:
        """Class labels for the batch: one class, all classes in turn ('mixed'), or None (unconditional)."""
        return controls.labels_for(cls, self.classes, self.n)

    def sample(self, params: tuple, on_step: Callable | None = None) -> Frames:
        """Run the chosen public sampler once for `params` (uncached) and keep its frames as numpy."""
        name, steps, eta, scale, cls, seed = params
        y = self.labels_for(cls)
        extra = {} if eta is None else {"eta": eta}
        gen = torch.Generator(device=self.x_T.device).manual_seed(seed + 1)
        start = time.perf_counter()
        with torch.inference_mode():
            traj = run_sampler(self.samplers[name], self.model, self.schedule, self.x_T, steps=steps, y=y,
                               guidance_scale=1.0 if scale is None else scale, generator=gen, record=True,
                               on_step=on_step, **extra)
        seconds = time.perf_counter() - start
        return Frames(viz.as_numpy(traj.xs), viz.as_numpy(traj.x0_hats), traj.timesteps.cpu().numpy(),
                      int(traj.nfe), None if y is None else y.numpy(), seconds)

    describe = staticmethod(controls.describe)

    # ---- SampledWidget's hooks: a setting is controls.setting's tuple ------------------------------
    def _setting(self) -> tuple:
        return self.params()

    def _sampling_status(self, key: tuple) -> str:
        return f"sampling {self.describe(key)}"

    def _sample(self, key: tuple, on_step: Callable | None = None) -> Frames:
        return self.sample(key, on_step)

    def _steps_of(self, key: tuple) -> int:
        return key[1]

    def _update_enabled(self) -> None:
        spec = self.samplers[self.sampler]
        self.eta_enabled = spec.takes_eta
        self.scale_enabled = bool(self.num_classes) and self.cls != UNCOND and spec.fixed_scale is None

    @T.observe("sampler", "steps", "eta", "scale", "cls")
    def _on_control(self, change) -> None:
        if self._quiet or not hasattr(self, "runner"):
            return
        with self._lock:
            if change["name"] == "steps" and change["new"] not in self.steps_ladder and change["new"] >= 1:
                self.steps_ladder = sorted({*self.steps_ladder, int(change["new"])})  # a value set from Python
            self._update_enabled()
            if self.shown is not None and self.params() == self.shown and not self.runner.busy():
                # e.g. the disabled scale of a distilled student moved, or back from a failed setting
                self.clear_error()
                self.status = f"{self.describe(self.shown)}: on screen"
                return
            self._request()

    def _publish(self, key: tuple, frames: Frames, gen: int, how: str = "from the cache") -> None:
        """Send the whole trajectory once (one message with every buffer); the browser draws from it."""
        encoded = self._encode(frames)
        with self.hold_sync():
            for name, value in encoded.items():
                setattr(self, name, value)
            self.timesteps = [int(t) for t in frames.timesteps]
            self.title = controls.title(key, frames.steps, frames.nfe)
            self.frame = frames.steps
            self._published(gen, f"{self.describe(key)}: {how}")
        self.frames = frames
        self._shown(key)

    def _neighbour_settings(self, key: tuple) -> list[tuple]:
        """The settings a student is likely to ask for next: scale +- one slider step, steps +- one ladder rung."""
        return controls.neighbours(key, self.steps_ladder, fixed_scale(self.samplers[key[0]]) is not None)

    def _restore(self, key: tuple) -> str:
        """Put the controls back to the trajectory on screen, without re-sampling."""
        name, steps, eta, scale, cls, _ = key
        self._quiet = True
        try:
            with self.hold_sync():
                self.sampler, self.steps, self.cls = name, steps, cls
                if eta is not None:
                    self.eta = eta
                if scale is not None and fixed_scale(self.samplers[name]) is None:
                    self.scale = scale
                self._update_enabled()
        finally:
            self._quiet = False
        return self.describe(key)

    # ---- static figure and export (export.py draws them) ------------------------------------------
    def figure(self):
        """The frame on screen (`self.frame`) as a matplotlib figure (what nbval/nbconvert store as PNG)."""
        return export.explorer_figure(self)

    def to_animation(self, path: str | None = None, max_frames: int = 30, interval: int = 150):
        """A static export of the current trajectory: HTML (JS player) to display, or a file (.gif/.html)."""
        return export.explorer_animation(self, path, max_frames, interval)
