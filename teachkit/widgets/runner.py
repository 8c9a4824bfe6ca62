"""Background sampling for the widgets: one worker for explicit requests, one low-priority prefetcher.

A request carries a generation number; a newer request cancels an older one still running (the
sampler's per-step callback raises `Cancelled`), so the figure always ends on the last setting.
Prefetch jobs run only while no explicit request runs, on a thread with a lower OS priority, and are
cancelled the moment an explicit request arrives. Python's `threading` does the rest.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

from ..samplers import spec_of

__all__ = ["Cancelled", "Job", "SampleRunner", "run_sampler"]


class Cancelled(Exception):
    """Raised inside a sampler's callback to stop a re-sample that a newer request replaced."""


@dataclass
class Job:
    """One sampling request: `compute(job)` returns the value; `job.check()` raises once cancelled."""

    key: Hashable
    compute: Callable[["Job"], Any]
    gen: int = 0
    prefetch: bool = False
    cancelled: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        """Stop here (raise Cancelled) if a newer request replaced this one."""
        if self.cancelled.is_set():
            raise Cancelled(self.key)


def run_sampler(sampler, model, schedule, x_T, *, steps: int, on_step: Callable | None = None, **kwargs):
    """Call a sampler (a SamplerSpec or a plain function), calling `on_step(i, x, x0_hat)` after each step (x0_hat may be None).

    The registry's samplers report each step through the protocol's `callback(step)`. A plain function
    without that keyword gets a forward pre-hook on the model instead, which sees each step's input x_t
    (no x0_hat); it is removed afterwards and only acts on the calling thread, so other users of the
    model are not affected.
    """
    spec = spec_of(sampler)
    fn = spec.fn
    if on_step is None:
        return fn(model, schedule, x_T, steps=steps, **kwargs)
    if spec.takes_callback:
        return fn(model, schedule, x_T, steps=steps, callback=lambda s: on_step(s.i, s.x, s.x0_hat), **kwargs)
    target = model
    if not hasattr(target, "register_forward_pre_hook"):
        return fn(model, schedule, x_T, steps=steps, **kwargs)
    thread, batch, calls = threading.get_ident(), x_T.shape[0], [0]

    def hook(module, args):
        if threading.get_ident() == thread:
            if calls[0] > 0:  # the input of call i is the output of step i - 1
                on_step(calls[0] - 1, args[0][:batch], None)
            calls[0] += 1

    handle = target.register_forward_pre_hook(hook)
    try:
        return fn(model, schedule, x_T, steps=steps, **kwargs)
    finally:
        handle.remove()


def _lower_priority(niceness: int = 10) -> None:
    """Lower this thread's OS scheduling priority (Linux: per-thread nice); a no-op where unsupported."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        pass


class SampleRunner:
    """Runs the newest explicit job on one thread and prefetch jobs on another, lower-priority one.

    `on_done(job, value)` and `on_error(job, exc)` are called on the worker thread; cancelled jobs
    call neither. `cache_has(key)` lets the prefetcher skip values already computed.
    """

    def __init__(self, on_done: Callable, on_error: Callable, cache_has: Callable[[Hashable], bool],
                 on_prefetch: Callable[[bool], None] | None = None) -> None:
        self.on_done, self.on_error, self.cache_has = on_done, on_error, cache_has
        self.on_prefetch = on_prefetch or (lambda busy: None)  # told when the prefetch queue starts / runs dry
        self._cv = threading.Condition()
        self._explicit: Job | None = None  # the newest explicit job not yet started
        self._prefetch: list[Job] = []
        self.running: Job | None = None  # the explicit job running now
        self.prefetching: Job | None = None
        self.completed = 0  # explicit jobs finished (not cancelled), for tests and benchmarks
        self.prefetched = 0
        self._closed = False
        self._threads = [threading.Thread(target=self._loop, args=(False,), daemon=True, name="teachkit-sample"),
                         threading.Thread(target=self._loop, args=(True,), daemon=True, name="teachkit-prefetch")]
        for t in self._threads:
            t.start()

    def submit(self, job: Job) -> None:
        """Run `job` next, cancelling the explicit job running now (if older) and any prefetch."""
        with self._cv:
            if self._explicit is not None:
                self._explicit.cancelled.set()
            if self.running is not None and self.running.gen < job.gen:
                self.running.cancelled.set()
            self._cancel_prefetch()
            self._explicit = job
            self._cv.notify_all()

    def cancel(self) -> None:
        """Cancel every explicit and prefetch job, queued or running."""
        with self._cv:
            for job in (self._explicit, self.running):
                if job is not None:
                    job.cancelled.set()
            self._explicit = None
            self._cancel_prefetch()
            self._cv.notify_all()

    def _cancel_prefetch(self) -> None:
        if self.prefetching is not None:
            self.prefetching.cancelled.set()
            self._prefetch.insert(0, Job(self.prefetching.key, self.prefetching.compute, prefetch=True))

    def prefetch(self, jobs: list[Job]) -> None:
        """Replace the prefetch queue with `jobs` (nearest first); they run while no explicit job runs."""
        with self._cv:
            self._prefetch = [j for j in jobs if not self.cache_has(j.key)]
            for j in self._prefetch:
                j.prefetch = True
            self._cv.notify_all()

    def busy(self) -> bool:
        """True while an explicit job is queued or running."""
        with self._cv:
            return self._explicit is not None or self.running is not None

    def wait(self, timeout: float = 60.0, prefetch: bool = False) -> bool:
        """Block until explicit jobs (and, with prefetch=True, the prefetch queue) are done; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while (self._explicit is not None or self.running is not None or
                   (prefetch and (self._prefetch or self.prefetching is not None))):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def close(self) -> None:
        """Stop both threads (after cancelling what runs)."""
        self.cancel()
        with self._cv:
            self._closed = True
            self._prefetch = []
            self._cv.notify_all()

    def _next(self, prefetch: bool) -> Job | None:
        idle_told = False
        while True:
            with self._cv:
                while True:
                    if self._closed:
                        return None
                    if not prefetch and self._explicit is not None:
                        job, self._explicit = self._explicit, None
                        self.running = job
                        return job
                    if prefetch and self._prefetch and self._explicit is None and self.running is None:
                        job = self._prefetch.pop(0)
                        if self.cache_has(job.key):
                            continue
                        self.prefetching = job
                        return job
                    if prefetch and not idle_told:
                        break  # tell the widget outside this lock (it takes its own: lock order widget -> runner)
                    self._cv.wait()
            self.on_prefetch(False)
            idle_told = True

    def _loop(self, prefetch: bool) -> None:
        if prefetch:
            _lower_priority()
        while (job := self._next(prefetch)) is not None:
            if prefetch:
                self.on_prefetch(True)
            try:
                value = job.compute(job)
                job.check()
            except Cancelled:
                pass
            except Exception as exc:  # noqa: BLE001 - handed to the widget, which shows it
                if not job.prefetch:
                    self.on_error(job, exc)
            else:
                self.on_done(job, value)
                with self._cv:
                    if prefetch:
                        self.prefetched += 1
                    else:
                        self.completed += 1
            finally:
                with self._cv:
                    if prefetch:
                        self.prefetching = None
                    else:
                        self.running = None
                    self._cv.notify_all()
