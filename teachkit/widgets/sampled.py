"""What every sampling widget does in the kernel: one result per setting, cached, streamed while sampled, prefetched, cancellable.

SampledWidget is the base of the trajectory explorers (explorer_base.py) and the guidance sweep
(guidance.py). A newer setting cancels an older re-sample (SampleRunner, runner.py); while idle the
settings a student is likely to ask for next are sampled into the cache (BoundedCache, cache.py).
A subclass says what a setting is and how to sample, stream and show it (the hooks below).
"""
from __future__ import annotations

import time
from typing import Callable, Hashable

import traitlets as T

from .cache import BoundedCache
from .canvas import CanvasWidget
from .runner import Job, SampleRunner

__all__ = ["SampledWidget", "STREAM_EVERY_S"]

STREAM_EVERY_S = 0.04  # at most ~25 streamed frames per second


class SampledWidget(CanvasWidget):
    """A canvas widget that shows one sampled result per setting; subclasses fill in the hooks and call _start_sampling."""

    traj_gen = T.Int(0).tag(sync=True)  # the request whose result is on screen (the browser drops older streams)

    def _start_sampling(self, cache: BoundedCache, prefetch: bool | None) -> None:
        """Set up the cache and the sampling threads (call once, at the end of __init__, before the first _request)."""
        self.cache = cache
        self.prefetch_enabled = prefetch
        self.shown: Hashable | None = None  # the setting on screen
        self._gen = 0
        self.runner = SampleRunner(self._job_done, self._job_failed, lambda key: key in self.cache,
                                   self._set_prefetching)

    # ---- subclass hooks -------------------------------------------------------------------------
    def _setting(self) -> Hashable:
        """Subclass hook: the setting the controls ask for now (the cache key)."""
        raise NotImplementedError

    def _sampling_status(self, key: Hashable) -> str:
        """Subclass hook: the status line while `key` is sampled."""
        raise NotImplementedError

    def _sample(self, key: Hashable, on_step: Callable | None = None):
        """Subclass hook: sample `key` once (uncached), calling on_step(i, x, x0_hat) after each step."""
        raise NotImplementedError

    def _steps_of(self, key: Hashable) -> int:
        """Subclass hook: how many sampler steps `key` takes (for progress and streaming)."""
        raise NotImplementedError

    def _partial(self, x, x0_hat) -> list[bytes]:
        """Subclass hook: one streamed step's buffers."""
        raise NotImplementedError

    def _publish(self, key: Hashable, value, gen: int, how: str = "from the cache") -> None:
        """Subclass hook: show `value` (traits, title, status ending in `how`); then call self._shown(key)."""
        raise NotImplementedError

    def _neighbour_settings(self, key: Hashable) -> list[Hashable]:
        """Subclass hook: the settings worth prefetching next to `key`."""
        return []

    def _restore(self, key: Hashable) -> str:
        """Subclass hook: put the controls back to `key` (on screen) after a cancel; returns it in words."""
        raise NotImplementedError

    # ---- requests -------------------------------------------------------------------------------
    def _request(self, sync: bool = False) -> None:
        """Show the current setting: from the cache now, or sampled (streamed) in the background (sync: here, unstreamed)."""
        with self._lock:
            self._gen += 1
            gen, key = self._gen, self._setting()
            self.status = self._sampling_status(key)
            if key in self.cache:
                self.runner.cancel()
                self._publish(key, self.cache.get(key), gen)
                return
            self.cache.misses += 1
            job = Job(key, self._compute, gen=gen)
            if sync:  # in the caller's thread, nothing streamed (no view shows it yet)
                try:
                    start = time.perf_counter()
                    value = self._sample(key)
                    self._job_done(job, (value, time.perf_counter() - start))
                except Exception as exc:  # noqa: BLE001 - shown in the widget, kept in last_error
                    self._job_failed(job, exc)
                return
            self.busy, self.progress = True, 0.0
            self.runner.submit(job)

    def _compute(self, job: Job) -> tuple:
        """Sample job.key -> (value, seconds); explicit jobs stream a step every STREAM_EVERY_S and report progress."""
        start = time.perf_counter()
        if job.prefetch:
            return self._sample(job.key, on_step=lambda i, x, x0: job.check()), time.perf_counter() - start
        steps, last = self._steps_of(job.key), [0.0, 0.0]

        def on_step(i, x, x0_hat):
            job.check()  # a newer request cancels this one here
            now = time.perf_counter()
            if (i == 0 or now - last[0] >= STREAM_EVERY_S) and i < steps - 1:
                last[0] = now
                with self._lock:
                    if job.gen == self._gen:
                        self.emit({"type": "partial", "gen": job.gen, "i": i + 1, "steps": steps},
                                  self._partial(x, x0_hat))
                        if now - last[1] >= 0.5:  # the bar follows the streamed steps; the trait only now and then
                            last[1] = now
                            self.progress = (i + 1) / steps

        value = self._sample(job.key, on_step=on_step)
        return value, time.perf_counter() - start

    def _job_done(self, job: Job, result: tuple) -> None:
        value, seconds = result
        with self._lock:
            self.cache.put(job.key, value)
            if not job.prefetch and job.gen == self._gen:
                self._publish(job.key, value, job.gen, f"done in {seconds:.2f} s")

    def _job_failed(self, job: Job, exc: BaseException) -> None:
        with self._lock:
            if job.gen == self._gen:
                self.busy = False
                self.show_error(exc)

    def _published(self, gen: int, status: str) -> None:
        """The end of a subclass's _publish, inside its hold_sync: request `gen` is on screen, done, no error."""
        self.traj_gen = gen
        self.busy, self.progress = False, 1.0
        self.status = status
        self.clear_error()

    def _shown(self, key: Hashable) -> None:
        """After a publish: remember what is on screen and prefetch its neighbours (with a browser, or prefetch=True)."""
        self.shown = key
        if self.prefetch_enabled or (self.prefetch_enabled is None and self.front_end):
            self._prefetch(key)

    # ---- prefetch and cancel ------------------------------------------------------------------
    def _prefetch(self, key: Hashable) -> None:
        self.runner.prefetch([Job(k, self._compute, prefetch=True) for k in self._neighbour_settings(key)])

    def _front_end_ready(self) -> None:
        if self.prefetch_enabled is None and self.shown is not None:
            self._prefetch(self.shown)

    def _cancel_request(self) -> None:
        """Stop the running re-sample and put the controls back to the setting on screen."""
        with self._lock:
            self.runner.cancel()
            self._gen += 1
            self.busy = False
            words = self._restore(self.shown) if self.shown is not None else ""
            self.status = "cancelled" + (f": showing {words}" if words else "")

    def cancel(self) -> None:
        """Cancel a running re-sample (what the widget's cancel button does)."""
        self._cancel_request()

    def wait(self, timeout: float = 120.0, prefetch: bool = False) -> bool:
        """Block until the background re-sample (and, with prefetch=True, the prefetch queue) is done."""
        return self.runner.wait(timeout, prefetch)

    def close(self) -> None:
        """Stop the sampling threads and close the widget."""
        if hasattr(self, "runner"):  # close() also runs from __del__ after a failed __init__
            self.runner.close()
        super().close()
