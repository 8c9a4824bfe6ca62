"""Datasets: 2-D toy distributions with labels (toy2d), real MNIST digits (mnist_loader) and the IDX file format (idx).

Import from here (`from teachkit.datasets import toy, mnist_tensors`); each name has one home, the
submodule named after what it holds.
"""
from .idx import read_idx, write_idx
from .mnist_loader import MNIST_SHA256, SPLITS, data_dir, mnist, mnist_tensors, sha256_file
from .toy2d import TOYS, toy, toy_class_log_prob, toy_density, toy_extent, toy_log_prob, toy_num_classes

__all__ = ["mnist", "mnist_tensors", "data_dir", "sha256_file", "MNIST_SHA256", "SPLITS", "read_idx", "write_idx",
           "TOYS", "toy", "toy_num_classes", "toy_log_prob", "toy_class_log_prob", "toy_density", "toy_extent"]
