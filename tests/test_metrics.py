"""Sample-quality metrics on cases with known answers (identical sets, shifted Gaussians, perfect vs noise generators)."""
from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from teachkit import metrics as M


def gaussian(n: int, mean, seed: int, dim: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g, dtype=torch.float64) + torch.as_tensor(mean, dtype=torch.float64)


# ---------------------------------------------------------------- 2-D distances


def test_identical_sets_are_at_distance_zero():
    x = gaussian(500, [0.0, 0.0], seed=0)
    assert M.sliced_wasserstein(x, x.clone()) < 1e-12
    assert M.energy_distance(x, x.clone()) < 1e-6
    assert M.frechet_distance_from_features(x, x.clone()) < 1e-9
    # the unbiased MMD^2 drops only the i == j terms of the within-set means, so a set against itself
    # gives about -2 K(0) / n (K(0) = 5 for five kernels); two independent draws of one law give ~0
    assert -2 * 5 / 500 < M.mmd_rbf(x, x.clone()) <= 0.0
    null = abs(M.mmd_rbf(x, gaussian(500, [0.0, 0.0], seed=99)))
    assert null < 0.1 * M.mmd_rbf(x, gaussian(500, [1.0, 0.0], seed=99))


def test_sliced_wasserstein_of_a_shifted_cloud_is_norm_over_sqrt_dim():
    # SW_2^2 = E_theta (theta . mu)^2 = |mu|^2 / d for theta uniform on the sphere (a shifted copy, so every
    # projected W2 is exactly |theta . mu|); 512 fixed projections estimate the expectation to a few percent
    x = gaussian(2000, [0.0, 0.0], seed=1)
    mu = torch.tensor([3.0, -4.0], dtype=torch.float64)
    sw = M.sliced_wasserstein(x, x + mu, n_projections=2048)
    assert sw == pytest.approx(5.0 / math.sqrt(2), rel=0.03)


def test_sliced_wasserstein_is_deterministic_given_the_seed():
    x, y = gaussian(300, [0, 0], 2), gaussian(300, [1, 0], 3)
    assert M.sliced_wasserstein(x, y, seed=7) == M.sliced_wasserstein(x, y, seed=7)
    assert M.sliced_wasserstein(x, y, seed=7) != M.sliced_wasserstein(x, y, seed=8)


def test_sliced_wasserstein_of_independent_gaussians_is_close_to_analytic():
    # N(0, I) vs N(mu, I): SW_2 = |mu| / sqrt(2) plus a small finite-sample upward bias
    sw = M.sliced_wasserstein(gaussian(4000, [0, 0], 4), gaussian(4000, [2.0, 0], 5))
    assert sw == pytest.approx(2.0 / math.sqrt(2), rel=0.05)


def test_energy_distance_matches_scipy_in_one_dimension():
    a, b = gaussian(400, [0.0], 6, dim=1), gaussian(300, [0.7], 7, dim=1)
    expected = scipy.stats.energy_distance(a[:, 0].numpy(), b[:, 0].numpy())
    assert M.energy_distance(a, b) == pytest.approx(expected, rel=1e-10)


def test_energy_distance_of_two_point_masses():
    # D^2 = 2 |a - b| - 0 - 0
    a = torch.zeros(10, 2, dtype=torch.float64)
    b = torch.full((5, 2), 3.0, dtype=torch.float64)
    assert M.energy_distance(a, b) == pytest.approx(math.sqrt(2 * 3 * math.sqrt(2)))


def test_mmd_of_shifted_gaussians_matches_the_closed_form():
    # Gaussian kernel k = exp(-|u|^2 / (2 s^2)), X ~ N(0, I_d), Y ~ N(mu, I_d):
    # E k(X, X') = (s^2 / (s^2 + 2))^(d/2),  E k(X, Y) = the same times exp(-|mu|^2 / (2 (s^2 + 2)))
    s, d, mu = 1.0, 2, 1.5
    c = (s * s / (s * s + 2)) ** (d / 2)
    expected = 2 * c * (1 - math.exp(-(mu**2) / (2 * (s * s + 2))))
    value = M.mmd_rbf(gaussian(3000, [0, 0], 8), gaussian(3000, [mu, 0], 9), bandwidths=(s,))
    assert value == pytest.approx(expected, abs=0.01)


@settings(max_examples=20, deadline=None)
@given(st.floats(0.0, 3.0), st.integers(0, 10_000))
def test_distances_grow_with_the_shift(shift: float, seed: int):
    base = gaussian(200, [0, 0], seed)
    near = base + torch.tensor([shift, 0.0], dtype=torch.float64)
    far = base + torch.tensor([shift + 1.0, 0.0], dtype=torch.float64)
    assert M.sliced_wasserstein(base, near) < M.sliced_wasserstein(base, far)
    assert M.energy_distance(base, near) < M.energy_distance(base, far)


def test_log_likelihood_and_adherence_under_a_known_mixture():
    means = torch.tensor([[-2.0, 0.0], [2.0, 0.0]], dtype=torch.float64)

    def class_log_prob(x):  # (N, 2): log N(x; mean_k, I)
        return -0.5 * ((x[:, None, :] - means[None]) ** 2).sum(-1) - math.log(2 * math.pi)

    y = torch.arange(400) % 2
    x = means[y] + 0.5 * gaussian(400, [0, 0], 10)
    log_prob = lambda x: torch.logsumexp(class_log_prob(x), dim=1) - math.log(2)  # noqa: E731
    assert M.class_adherence(x, y, class_log_prob) > 0.99
    assert M.class_adherence(x, 1 - y, class_log_prob) < 0.01
    # samples at the modes are more likely than samples far away
    assert M.mean_log_likelihood(x, log_prob) > M.mean_log_likelihood(x * 4, log_prob)
    # exact value at a point: log(0.5 N(0; m1, I) + 0.5 N(0; m2, I)) = -2 - log(2 pi)
    zero = torch.zeros(2, 2, dtype=torch.float64)
    assert M.mean_log_likelihood(zero, log_prob) == pytest.approx(-2 - math.log(2 * math.pi))


def test_bad_input_is_rejected_with_a_clear_message():
    with pytest.raises(ValueError, match="dimension"):
        M.sliced_wasserstein(torch.zeros(4, 2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="NaN"):
        M.energy_distance(torch.full((4, 2), float("nan")), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="at least 2"):
        M.mmd_rbf(torch.zeros(1, 2), torch.zeros(4, 2))
    with pytest.raises(TypeError):
        M.sliced_wasserstein([[0.0, 1.0]], torch.zeros(4, 2))
    with pytest.raises(ValueError, match="shape"):
        M.sliced_wasserstein(torch.zeros(5), torch.zeros(5))


# ---------------------------------------------------------------- Frechet distance


def test_frechet_distance_of_shifted_gaussians_with_equal_covariance_is_the_squared_shift():
    x = gaussian(1000, [0, 0, 0], 11, dim=3)
    mu = torch.tensor([1.0, 2.0, -2.0], dtype=torch.float64)
    assert M.frechet_distance_from_features(x, x + mu) == pytest.approx(9.0, rel=1e-8)


def test_frechet_distance_of_diagonal_gaussians_is_analytic():
    # W2^2 = |mu1 - mu2|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2 for diagonal covariances
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    mu1, mu2 = np.zeros(3), np.array([0.0, 3.0, 0.0])
    expected = 9.0 + (1 - 3) ** 2 + (2 - 1) ** 2
    assert M.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_agrees_with_pot_bures_wasserstein():
    rng = np.random.default_rng(12)
    A, B = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    s1, s2 = A @ A.T + 0.1 * np.eye(4), B @ B.T + 0.1 * np.eye(4)
    m1, m2 = rng.normal(size=4), rng.normal(size=4)
    w2 = float(ot.gaussian.bures_wasserstein_distance(m1, m2, s1, s2))
    assert M.frechet_distance(m1, s1, m2, s2) == pytest.approx(w2**2, rel=1e-6)


def test_frechet_distance_refuses_a_large_imaginary_part_instead_of_dropping_it():
    # issue 15: sqrtm's imaginary part was dropped unchecked; sigma1 here is no covariance (eigenvalue -1),
    # so sqrt(sigma1 sigma2) is imaginary and the old code returned a made-up real distance
    with pytest.raises(ValueError, match="imaginary part of 1 "):
        M.frechet_distance(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2))
    # round-off-sized imaginary parts (fewer samples than dimensions) are still accepted
    x = gaussian(10, np.zeros(32), seed=3, dim=32).numpy()
    y = gaussian(10, np.zeros(32), seed=4, dim=32).numpy()
    assert math.isfinite(M.frechet_distance_from_features(x, y))


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes"):
        M.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


# ---------------------------------------------------------------- MNIST-style metrics on synthetic digits


class TemplateClassifier(nn.Module):
    """Nearest-template classifier on 4x4-pooled images: features (B, 49), logits (B, 10)."""

    def __init__(self, templates: torch.Tensor):
        super().__init__()
        self.register_buffer("templates", F.avg_pool2d(templates, 4).flatten(1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 4).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -torch.cdist(self.features(x), self.templates) ** 2


def synthetic_digits(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Class k is a bright square at position k on a -1 background, with a random jitter and pixel noise."""
    g = torch.Generator().manual_seed(seed)
    templates = -torch.ones(10, 1, 28, 28)
    for k in range(10):
        r, c = 2 + 6 * (k // 4), 2 + 6 * (k % 4)
        templates[k, 0, r : r + 8, c : c + 8] = 1.0
    y = torch.arange(n) % 10
    x = templates[y] + 0.3 * torch.randn(n, 1, 28, 28, generator=g)
    return x.clamp(-1, 1), y, templates


def test_a_perfect_generator_beats_noise_on_every_mnist_metric():
    train, _, templates = synthetic_digits(600, seed=0)
    heldout, y_held, _ = synthetic_digits(600, seed=1)
    generated_good, y_good, _ = synthetic_digits(400, seed=2)  # fresh draws from the data distribution
    noise = torch.rand(400, 1, 28, 28, generator=torch.Generator().manual_seed(3)) * 2 - 1
    clf = TemplateClassifier(templates)
    ref_feats, _ = M.classifier_outputs(clf, heldout)
    good = M.mnist_report(clf, generated_good, y_good, ref_feats)
    bad = M.mnist_report(clf, noise, y_good, ref_feats)
    assert good["cfid"] < 0.05 * bad["cfid"]
    assert good["accuracy"] > 0.99 and bad["accuracy"] < 0.3
    assert good["saturation"] == 0.0  # clamped to [-1, 1]
    # identical sets: classifier-FID ~ 0
    assert M.classifier_fid(ref_feats, ref_feats.clone()) < 1e-8
    assert M.class_accuracy(clf(heldout), y_held) > 0.99


def test_diversity_is_zero_for_copies_and_positive_for_varied_samples():
    x, y, _ = synthetic_digits(100, seed=4)
    feats = x.flatten(1)
    assert M.within_class_diversity(feats, y) > 1.0
    copies = feats[y == 3][:1].repeat(20, 1)
    assert M.within_class_diversity(copies, torch.full((20,), 3)) == pytest.approx(0.0, abs=1e-12)


def test_memorization_probe_flags_copies_of_training_digits():
    train, _, _ = synthetic_digits(300, seed=5)
    heldout, _, _ = synthetic_digits(300, seed=6)
    fresh, _, _ = synthetic_digits(200, seed=7)
    copied = train[:200] + 0.01 * torch.randn(200, 1, 28, 28, generator=torch.Generator().manual_seed(8))
    copying = M.memorization_probe(copied, train, heldout)
    generalising = M.memorization_probe(fresh, train, heldout)
    assert copying["frac_copies"] > 0.95 and copying["pixels"]["median_score"] < 0.1
    assert generalising["frac_copies"] == 0.0
    # fresh draws sit as far from the training set, relative to their neighbourhood, as held-out draws do
    assert generalising["pixels"]["median_score"] == pytest.approx(float(M.copy_scores(heldout, train).median()), abs=0.05)


def test_saturated_fraction_counts_pixels_outside_the_data_range():
    x = torch.zeros(2, 1, 28, 28)
    x[0, 0, :14] = 3.0  # a quarter of all pixels far outside [-1, 1]
    assert M.saturated_fraction(x) == pytest.approx(0.25)
    assert M.saturated_fraction(torch.ones(2, 1, 28, 28)) == 0.0  # exactly +-1 is real data, not saturation
    with pytest.raises(ValueError, match="threshold"):
        M.saturated_fraction(x, threshold=0.0)


def test_shipped_classifier_scores_held_out_digits_far_better_than_noise():
    """With the real mnist-classifier: held-out digits ("a perfect generator") beat noise on every metric."""
    try:
        from teachkit.checkpoints import load_pretrained
        from teachkit.datasets import mnist_tensors

        clf, _, _ = load_pretrained("mnist-classifier")
        train, _ = mnist_tensors("train")
        heldout, y_held = mnist_tensors("test")
    except (ImportError, FileNotFoundError) as err:
        pytest.skip(f"shipped classifier or MNIST not available: {err}")
    real_a, real_b = heldout[:250], heldout[250:]
    ref_feats, _ = M.classifier_outputs(clf, real_b)
    noise = torch.rand(250, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    perfect = M.mnist_report(clf, real_a, y_held[:250], ref_feats, train=train, heldout=real_b)
    bad = M.mnist_report(clf, noise, y_held[:250], ref_feats)
    assert perfect["cfid"] < 0.2 * bad["cfid"]
    assert perfect["accuracy"] > 0.9 and bad["accuracy"] < 0.5
    assert perfect["saturation"] == 0.0
    # held-out digits are no closer to the training set than to other held-out digits
    assert perfect["memorization"]["frac_copies"] < 0.05
