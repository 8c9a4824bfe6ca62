"""Real MNIST digits (LeCun, Cortes, Burges): the shipped 4,500 / 500 subset, checked by sha256, or full IDX files; numpy does the rest."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from teachkit import resources
from teachkit.datasets.idx import read_idx

__all__ = ["mnist", "mnist_tensors", "data_dir", "sha256_file", "MNIST_SHA256", "SPLITS"]

SPLITS = ("train", "test")

# sha256 of the shipped files, written by data/build_mnist.py (and listed in data/README.md)
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "4772c5ed5bdfea7ab2fd4d5ac366824cf3c9543b10b5dbb85ad0db37b8608764",
    "train-labels-idx1-ubyte.gz": "8964d117909d179cfadfe945f32e84be2e9720aa430060ba27a25f7943187afb",
    "test-images-idx3-ubyte.gz": "c11548ac444ada4651eb8b0adaac63af41ea84c4dd723be3ae6a79629ed29c03",
    "test-labels-idx1-ubyte.gz": "9259cafd25b6c96426c4dd63a2950846e64f8b91e92db03efb8f9845752e9820",
}

_FULL_MNIST_HELP = (
    "To use the full MNIST (60,000 / 10,000 digits), download train-images-idx3-ubyte.gz, "
    "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz "
    "(e.g. from https://ossci-datasets.s3.amazonaws.com/mnist/) into one directory and pass "
    "mnist(root=that_directory)."
)


def data_dir() -> Path:
    """The directory with the shipped data: $TEACHKIT_DATA, the installed wheel's package data, or the checkout's data/."""
    return resources.data_dir()


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _find(root: Path, stems: tuple[str, ...]) -> Path:
    for stem in stems:
        for name in (stem, stem + ".gz"):
            if (root / name).exists():
                return root / name
    raise FileNotFoundError(f"none of {', '.join(s + '[.gz]' for s in stems)} found in {root}. {_FULL_MNIST_HELP}")


def mnist(split: str = "train", root: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Real MNIST digits as (images uint8 (N, 28, 28), labels uint8 (N,)): the shipped 4,500 / 500 subset, or full IDX files in `root`."""
    if split not in SPLITS:
        raise ValueError(f"unknown MNIST split {split!r}; choose one of {', '.join(SPLITS)}")
    if root is None:
        shipped = data_dir() / "mnist"
        paths = [shipped / f"{split}-{kind}" for kind in ("images-idx3-ubyte.gz", "labels-idx1-ubyte.gz")]
        for path in paths:
            if not path.exists():
                raise FileNotFoundError(f"shipped MNIST file {path} is missing; rebuild it with `python data/build_mnist.py`")
            if sha256_file(path) != MNIST_SHA256[path.name]:
                raise ValueError(
                    f"{path} does not match its recorded sha256 (modified or corrupt); "
                    f"restore it with `git checkout -- {path.name}` or rebuild with `python data/build_mnist.py`"
                )
    else:
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"MNIST directory {root} does not exist. {_FULL_MNIST_HELP}")
        prefix = ("train",) if split == "train" else ("t10k", "test")
        paths = [_find(root, tuple(f"{p}-{kind}" for p in prefix)) for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")]
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(f"{paths[0]}: expected uint8 images of shape (N, 28, 28), got {images.dtype} {images.shape}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"{paths[1]}: {labels.shape[0]} labels for {images.shape[0]} images in {paths[0]}")
    if labels.size and int(labels.max()) > 9:
        bad = int(np.argmax(labels > 9))
        raise ValueError(f"{paths[1]}: label {int(labels[bad])} at index {bad} is not a digit 0 .. 9; "
                         "the file is damaged or is not an MNIST labels file")
    return images, labels


def mnist_tensors(split: str = "train", root: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST as model-ready tensors: images float32 (N, 1, 28, 28) in [-1, 1], labels int64 (N,)."""
    images, labels = mnist(split, root)
    # pixel p in 0..255 -> p / 127.5 - 1 in [-1, 1]
    x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1) / 127.5 - 1.0
    return x, torch.from_numpy(labels.astype(np.int64))
