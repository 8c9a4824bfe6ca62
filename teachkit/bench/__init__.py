"""Reproducible benchmarks: quality vs NFE, guidance sweeps, speed vs bare forwards and vs diffusers."""
from .cli import PROFILES, main

__all__ = ["main", "PROFILES"]
