"""Datasets: 2-D toys (shapes, balance, determinism, densities), the shipped MNIST subset, the IDX reader."""
import gzip
import shutil

import numpy as np
import pytest
import torch

from teachkit import datasets
from teachkit.datasets import TOYS, mnist, mnist_tensors, toy, toy_density, toy_log_prob, toy_num_classes
from teachkit.datasets import read_idx, write_idx


@pytest.mark.parametrize("name", TOYS)
def test_toy_shapes_balance_determinism(name):
    x, y = toy(name, 1000, seed=3)
    K = toy_num_classes(name)
    assert x.shape == (1000, 2) and x.dtype == torch.float32
    assert y.shape == (1000,) and y.dtype == torch.int64
    counts = torch.bincount(y, minlength=K)
    assert counts.numel() == K and counts.max() - counts.min() <= 1
    x2, y2 = toy(name, 1000, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, toy(name, 1000, seed=4)[0])
    assert x.abs().max() < datasets.toy_extent(name)


@pytest.mark.parametrize("name", TOYS)
def test_toy_density_integrates_to_one_and_favours_samples(name):
    X, Y, p = toy_density(name, grid=120)
    cell = (X[0, 1] - X[0, 0]) * (Y[1, 0] - Y[0, 0])
    assert p.sum() * cell == pytest.approx(1.0, abs=0.05)
    x, _ = toy(name, 500, seed=1)
    e = datasets.toy_extent(name)
    uniform = torch.rand(500, 2, generator=torch.Generator().manual_seed(0)) * 2 * e - e
    # samples are far more likely under the density than uniform points over the same square
    assert toy_log_prob(name, x).mean() > toy_log_prob(name, uniform).clamp(min=-50).mean() + 1.0


def test_toy_labels_match_class_densities():
    for name in ("eight_gaussians", "moons", "rings", "checkerboard"):
        x, y = toy(name, 400, seed=0)
        pred = datasets.toy_class_log_prob(name, x).argmax(1)
        assert (pred == y).float().mean() > 0.95, name


def test_toy_bad_input():
    with pytest.raises(ValueError, match="unknown toy 'moon'.*moons"):
        toy("moon", 10)
    with pytest.raises(ValueError, match="positive integer"):
        toy("moons", 0)


def test_shipped_mnist_split():
    xtr, ytr = mnist("train")
    xte, yte = mnist("test")
    assert xtr.shape == (4500, 28, 28) and xte.shape == (500, 28, 28)
    assert xtr.dtype == np.uint8 and ytr.dtype == np.uint8
    assert np.bincount(ytr).tolist() == [450] * 10 and np.bincount(yte).tolist() == [50] * 10
    # disjoint splits (no test image appears in the training split)
    train_rows = {row.tobytes() for row in xtr.reshape(4500, -1)}
    assert sum(row.tobytes() in train_rows for row in xte.reshape(500, -1)) == 0
    x, y = mnist_tensors("test")
    assert x.shape == (500, 1, 28, 28) and x.min() == -1.0 and x.max() == 1.0 and y.dtype == torch.int64


def test_mnist_bad_split_and_tampered_or_missing(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown MNIST split"):
        mnist("validation")
    shutil.copytree(datasets.data_dir() / "mnist", tmp_path / "mnist")
    monkeypatch.setenv("TEACHKIT_DATA", str(tmp_path))
    assert mnist("test")[0].shape == (500, 28, 28)
    path = tmp_path / "mnist" / "test-labels-idx1-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="sha256"):
        mnist("test")
    path.unlink()
    with pytest.raises(FileNotFoundError, match="build_mnist"):
        mnist("test")


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, suffix):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / f"a{suffix}", images)
    back = read_idx(tmp_path / f"a{suffix}")
    assert back.dtype == np.uint8 and np.array_equal(back, images)
    floats = rng.standard_normal((3, 4)).astype(np.float32)
    write_idx(tmp_path / "f", floats)
    assert np.array_equal(read_idx(tmp_path / "f"), floats)


def test_idx_bad_files(tmp_path):
    bad = tmp_path / "bad-magic"
    bad.write_bytes(b"\x12\x34\x08\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match="bad IDX magic"):
        read_idx(bad)
    write_idx(tmp_path / "ok", np.zeros((5, 28, 28), np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "ok").read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "short.gz").write_bytes(gzip.compress((tmp_path / "ok").read_bytes())[:-20])
    with pytest.raises(ValueError, match="short.gz"):
        read_idx(tmp_path / "short.gz")
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


def test_mnist_from_full_idx_directory(tmp_path):
    rng = np.random.default_rng(1)
    for prefix, n in (("train", 12), ("t10k", 5)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    assert mnist("train", root=tmp_path)[0].shape == (12, 28, 28)
    x, y = mnist("test", root=tmp_path)
    assert x.shape == (5, 28, 28) and y.shape == (5,)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="4 labels for 5 images"):
        mnist("test", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="full MNIST"):
        mnist("train", root=tmp_path / "missing")
