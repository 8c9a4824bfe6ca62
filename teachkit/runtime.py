"""Device pick and seeding for lessons and scripts: one call at the top of every notebook."""
from __future__ import annotations

import os
import random
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

__all__ = ["pick_device", "setup", "seeded", "torch_threads"]


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The requested device, else CUDA, else Apple's MPS, else the CPU; an unavailable request is an error."""
    if device is not None:
        if not isinstance(device, (str, torch.device)):
            raise TypeError(f"device must be a string such as 'cpu' or 'cuda', or a torch.device; got {type(device).__name__}")
        try:
            device = torch.device(device)
        except RuntimeError:
            raise ValueError(f"device={str(device)!r} is not a device torch knows; use 'cpu', 'cuda' (or 'cuda:0') "
                             "or 'mps'") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("a CUDA device was requested but torch.cuda.is_available() is False "
                             "(a CPU-only torch build, or no GPU here); use device='cpu'")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError("device='mps' was requested but this machine has no usable MPS backend")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def setup(seed: int = 0, device: str | torch.device | None = None, threads: int | None = None,
          verbose: bool = True) -> torch.device:
    """Seed Python, NumPy and torch, pick a device and the CPU thread count; prints what it found.

    Threads: `threads`, else TEACHKIT_THREADS, else 1 on a CPU device (the stored lesson outputs use 1, and on a
    shared 2-core machine 2 threads ran 1.3x to 7.7x slower than 1: benchmarks/results/threads.md).
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads is None and os.environ.get("TEACHKIT_THREADS"):
        try:
            threads = int(os.environ["TEACHKIT_THREADS"])
        except ValueError:
            raise ValueError(f"TEACHKIT_THREADS={os.environ['TEACHKIT_THREADS']!r} must be a positive integer") from None
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads={threads!r} must be a positive integer (torch CPU threads; TEACHKIT_THREADS sets it too)")
        torch.set_num_threads(threads)
    dev = pick_device(device)
    if threads is None and dev.type == "cpu":
        threads = 1
        torch.set_num_threads(1)
    if verbose:
        name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev.type.upper()
        print(f"teachkit: device={dev} ({name}), torch {torch.__version__}, seed={seed}")
    return dev


@contextmanager
def seeded(seed: int, device: torch.device | str | None = None, *, python_and_numpy: bool = False) -> Iterator[None]:
    """torch's global RNG (CPU, and `device`'s when it is a GPU) seeded with `seed` inside the block, restored after it.

    Library code that must draw from the global generator (a model's initialization, dropout in training mode)
    runs inside this block, so the caller's random state is the same before and after the call.
    With python_and_numpy, Python's `random` and NumPy's global state are seeded and restored the same way.
    """
    device = torch.device("cpu") if device is None else torch.device(device)
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    saved = (random.getstate(), np.random.get_state()) if python_and_numpy else None
    with torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(seed)
        for index in cuda:
            torch.cuda.default_generators[index].manual_seed(seed)
        if saved is not None:
            random.seed(seed)
            np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            if saved is not None:
                random.setstate(saved[0])
                np.random.set_state(saved[1])


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's CPU thread count set to `threads` inside the block (None: left as it is) and restored after it."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if threads is not None and torch.get_num_threads() != before:
            torch.set_num_threads(before)
