"""The trajectory explorer's controls and logic, shared by the 2-D and the image views.

The browser (teachkit/widgets/static/widgets.js) draws every frame and runs the frame slider and
Play; the kernel samples with the public samplers, streams partial frames while it does, keeps a
bounded cache and prefetches the neighbouring slider values while idle.
"""
from __future__ import annotations

import time
from typing import Callable

import matplotlib
import numpy as np
import torch
import traitlets as T

from .. import viz
from .cache import BoundedCache
from .canvas import CanvasWidget
from ..samplers import spec_of
from .frames import ALIASES, Frames, check_start, default_samplers, fixed_scale, model_device
from .runner import Job, SampleRunner, run_sampler

__all__ = ["TrajectoryExplorerBase", "STEPS_LADDER"]

MIXED, UNCOND = "mixed", "unconditional"
# the steps slider moves along this ladder (plus the starting value), so arrow keys make useful jumps
STEPS_LADDER = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 150, 200, 250, 300, 400, 500,
                600, 800, 1000)
PREFETCH_MAX_STEPS = 200  # neighbours dearer than this are not prefetched
STREAM_EVERY_S = 0.04  # at most ~25 streamed frames per second


class TrajectoryExplorerBase(CanvasWidget):
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
    traj_gen = T.Int(0).tag(sync=True)
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
        check_start(steps, eta, scale, max_steps)
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
        options = [[UNCOND, UNCOND]]
        if self.num_classes:
            options = [[MIXED, MIXED], [UNCOND, UNCOND]] + [[f"class {k}", k] for k in range(self.num_classes)]
        if self.num_classes and cls not in [v for _, v in options]:
            raise ValueError(f"cls={cls!r}: choose 'mixed', 'unconditional' or a class 0 .. {self.num_classes - 1}")
        gen = torch.Generator().manual_seed(self.seed)
        # the same x_T for every setting, so particles move continuously as the controls change
        self.x_T = torch.randn((self.n, *sample_shape), generator=gen).to(model_device(model))
        self.cache = BoundedCache(cache_size, cache_bytes, sizeof=lambda frames: frames.nbytes)
        self.frames: Frames | None = None
        self.shown: tuple | None = None  # the key of the trajectory on screen
        self.prefetch_enabled = prefetch
        self._gen = 0
        self._quiet = False
        with self.hold_trait_notifications():
            self.sampler_options = list(self.samplers)
            self.steps_ladder = sorted({s for s in STEPS_LADDER if s <= max_steps} | {int(steps), max_steps})
            self.cls_options = options
            self.sampler, self.steps, self.eta, self.scale = sampler, int(steps), float(eta), float(scale)
            self.cls = cls if self.num_classes else UNCOND
            self.scale_visible = bool(self.num_classes)
        self.runner = SampleRunner(self._job_done, self._job_failed, lambda key: key in self.cache,
                                   self._set_prefetching)
        self._update_enabled()
        self._request(sync=True)  # the first trajectory is computed here, so the static figure has it

    # ---- subclass hooks -------------------------------------------------------------------------
    def _encode(self, frames: Frames) -> dict:
        """Subclass hook: the trajectory as synced traits (binary buffers) for the browser."""
        raise NotImplementedError

    def _encode_step(self, x: torch.Tensor, x0_hat: torch.Tensor | None) -> list[bytes]:
        """Subclass hook: one streamed step's buffers."""
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
        spec = self.samplers[self.sampler]
        eta = float(self.eta) if spec.takes_eta else None
        cls = self.cls
        fixed = spec.fixed_scale  # a distilled student's scale is baked in
        scale = None if cls == UNCOND else float(self.scale if fixed is None else fixed)
        return (self.sampler, int(self.steps), eta, scale, cls, self.seed)

    def labels_for(self, cls) -> torch.Tensor | None:
        """Class labels for the batch: one class, all classes in turn ('mixed'), or None (unconditional)."""
        if cls == UNCOND:
            return None
        if cls == MIXED:
            return torch.tensor(self.classes)[torch.arange(self.n) % len(self.classes)]
        return torch.full((self.n,), int(cls), dtype=torch.long)

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

    @staticmethod
    def describe(key: tuple) -> str:
        """A setting in words, e.g. 'DDIM, 50 steps, eta 0, class 0, scale 10'."""
        name, steps, eta, scale, cls, _ = key
        if scale is None:
            guide = UNCOND
        else:
            guide = f"{'mixed classes' if cls == MIXED else f'class {cls}'}, scale {scale:g}"
        return f"{name}, {steps} steps{'' if eta is None else f', eta {eta:g}'}, {guide}"

    def _title(self, key: tuple, frames: Frames) -> str:
        name, steps, _, scale, cls, _ = key
        if scale is None:
            guide = UNCOND
        else:
            guide = f"{'mixed' if cls == MIXED else f'class {cls}'}, scale {scale:g}"
        # a sampler may visit fewer distinct timesteps than asked (Heun's Karras grid at 1000 steps)
        taken = "" if frames.steps == steps else f" ({frames.steps} distinct timesteps)"
        return f"{name} {steps} steps{taken}, {guide}, NFE {frames.nfe}"

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

    def _request(self, sync: bool = False) -> None:
        """Show the trajectory for the current controls: from the cache now, or sampled (streamed) in the background."""
        with self._lock:
            self._gen += 1
            gen, key = self._gen, self.params()
            self.status = f"sampling {self.describe(key)}"
            if key in self.cache:
                self.runner.cancel()
                self._publish(key, self.cache.get(key), gen, cached=True)
                return
            self.cache.misses += 1
            job = Job(key, self._compute, gen=gen)
            if sync:  # in the caller's thread, nothing streamed (no view shows it yet)
                try:
                    self._job_done(job, self.sample(key))
                except Exception as exc:  # noqa: BLE001 - shown in the widget, kept in last_error
                    self._job_failed(job, exc)
                return
            self.busy, self.progress = True, 0.0
            self.runner.submit(job)

    def _compute(self, job: Job) -> Frames:
        """Sample job.key; explicit jobs stream a frame every STREAM_EVERY_S and report progress."""
        if job.prefetch:
            return self.sample(job.key, on_step=lambda i, x, x0: job.check())
        steps, last = job.key[1], [0.0, 0.0]

        def on_step(i, x, x0_hat):
            job.check()  # a newer request cancels this one here
            now = time.perf_counter()
            if (i == 0 or now - last[0] >= STREAM_EVERY_S) and i < steps - 1:
                last[0] = now
                with self._lock:
                    if job.gen == self._gen:
                        self.emit({"type": "partial", "gen": job.gen, "i": i + 1, "steps": steps},
                                  self._encode_step(x, x0_hat))
                        if now - last[1] >= 0.5:  # the bar follows the streamed steps; the trait only now and then
                            last[1] = now
                            self.progress = (i + 1) / steps

        return self.sample(job.key, on_step=on_step)

    def _job_done(self, job: Job, frames: Frames) -> None:
        with self._lock:
            self.cache.put(job.key, frames)
            if not job.prefetch and job.gen == self._gen:
                self._publish(job.key, frames, job.gen)

    def _job_failed(self, job: Job, exc: BaseException) -> None:
        with self._lock:
            if job.gen == self._gen:
                self.busy = False
                self.show_error(exc)

    def _publish(self, key: tuple, frames: Frames, gen: int, cached: bool = False) -> None:
        """Send the whole trajectory once (one message with every buffer); the browser draws from it."""
        encoded = self._encode(frames)
        with self.hold_sync():
            for name, value in encoded.items():
                setattr(self, name, value)
            self.timesteps = [int(t) for t in frames.timesteps]
            self.title = self._title(key, frames)
            self.frame = frames.steps
            self.traj_gen = gen
            self.busy, self.progress = False, 1.0
            how = "from the cache" if cached else f"done in {frames.seconds:.2f} s"
            self.status = f"{self.describe(key)}: {how}"
            self.clear_error()
        self.frames, self.shown = frames, key
        if self.prefetch_enabled or (self.prefetch_enabled is None and self.front_end):
            self.runner.prefetch(self._neighbours(key))

    # ---- prefetch and cancel ------------------------------------------------------------------
    def _neighbours(self, key: tuple) -> list[Job]:
        """The settings a student is likely to ask for next: scale +- one slider step, steps +- one ladder rung."""
        name, steps, eta, scale, cls, seed = key
        keys = []
        if scale is not None and fixed_scale(self.samplers[name]) is None:
            keys += [(name, steps, eta, s, cls, seed) for s in (scale + 0.5, scale - 0.5) if 0.0 <= s <= 30.0]
        ladder = self.steps_ladder
        if steps in ladder:
            i = ladder.index(steps)
            keys += [(name, ladder[j], eta, scale, cls, seed) for j in (i + 1, i - 1) if 0 <= j < len(ladder)]
        return [Job(k, self._compute, prefetch=True) for k in keys if k[1] <= PREFETCH_MAX_STEPS]

    def _front_end_ready(self) -> None:
        if self.prefetch_enabled is None and self.shown is not None:
            self.runner.prefetch(self._neighbours(self.shown))

    def _cancel_request(self) -> None:
        """Stop the running re-sample and put the controls back to the trajectory on screen."""
        with self._lock:
            self.runner.cancel()
            self._gen += 1
            if self.shown is not None:
                name, steps, eta, scale, cls, _ = self.shown
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
            self.busy = False
            self.status = "cancelled" + (f": showing {self.describe(self.shown)}" if self.shown else "")

    def cancel(self) -> None:
        """Cancel a running re-sample (what the widget's cancel button does)."""
        self._cancel_request()

    def wait(self, timeout: float = 120.0, prefetch: bool = False) -> bool:
        """Block until the background re-sample (and, with prefetch=True, the prefetch queue) is done."""
        return self.runner.wait(timeout, prefetch)

    # ---- static figure and export -------------------------------------------------------------
    def _frame_title(self, k: int) -> str:
        f = self.frames
        t = f"t={f.timesteps[k]}" if k < f.steps else "clean"
        return f"{self.title}\nframe {k}/{f.steps} ({t})"

    def figure(self):
        """The frame on screen (`self.frame`) as a matplotlib figure (what nbval/nbconvert store as PNG)."""
        fig = viz.new_figure(self.figsize, dpi=72)
        view = self._make_view(fig)
        viz.freeze_layout(fig)
        if self.frames is not None:
            self._set_trajectory(view, self.frames)
            k = int(np.clip(self.frame, 0, self.frames.steps))
            self._draw_frame(view, self.frames, k, self._frame_title(k))
        return fig

    def to_animation(self, path: str | None = None, max_frames: int = 30, interval: int = 150):
        """A static export of the current trajectory: HTML (JS player) to display, or a file (.gif/.html)."""
        from IPython.display import HTML

        if self.frames is None:
            raise ValueError("no trajectory to export: the last re-sample failed (see the widget's error)")
        fig = viz.new_figure(self.figsize, dpi=72)
        view = self._make_view(fig)
        viz.freeze_layout(fig)
        self._set_trajectory(view, self.frames)
        anim = viz.animate(fig, lambda k: self._draw_frame(view, self.frames, k, self._frame_title(k)),
                           self.frames.steps + 1, max_frames, interval)
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

    def close(self) -> None:
        """Stop the sampling threads and close the widget."""
        if hasattr(self, "runner"):  # close() also runs from __del__ after a failed __init__
            self.runner.close()
        super().close()
