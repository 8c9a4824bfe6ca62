"""Evaluation: one `evaluate()` for every model (core), the shared row scoring (scoring), the recorded quality
of the shipped models and the README tables made from it (records), and `python -m teachkit evaluate` (cli)."""
from .core import MNIST_N, TOY_DATA, TOY_N, choose_sampler, evaluate, load_model
from .records import QUALITY, measure_quality, quality_rows, quality_tables, shipped_records, update_readmes
from .scoring import TOY_METRICS

__all__ = ["evaluate", "choose_sampler", "load_model", "TOY_N", "MNIST_N", "TOY_DATA", "QUALITY", "measure_quality",
           "quality_rows", "quality_tables", "shipped_records", "update_readmes", "TOY_METRICS"]
