"""The memorization probe's controls: real training digits are flagged, held-out digits are not, copies survive noise.

Issue 15 found the old probe (train cut to the held-out size) flagged only 14.5 % of 200 exact training
digits; these tests hold the rebuilt probe to its positive and negative controls on the shipped MNIST.
"""
from __future__ import annotations

import pytest
import torch

from teachkit import metrics as M


@pytest.fixture(scope="module")
def mnist():
    try:
        from teachkit.datasets import mnist_tensors

        train, _ = mnist_tensors("train")
        heldout, _ = mnist_tensors("test")
    except (ImportError, FileNotFoundError) as err:
        pytest.skip(f"shipped MNIST not available: {err}")
    return train, heldout


@pytest.fixture(scope="module")
def classifier():
    try:
        from teachkit.checkpoints import load_pretrained

        return load_pretrained("mnist-classifier")[0]
    except (ImportError, FileNotFoundError) as err:
        pytest.skip(f"shipped classifier not available: {err}")


def test_exact_training_digits_are_all_flagged_against_the_whole_training_set(mnist):
    train, heldout = mnist
    # the reproduction: 200 training digits fed back as "samples" (the old probe flagged 14.5 %)
    probe = M.memorization_probe(train[:200], train, heldout)
    assert probe["reference_size"] == train.shape[0]  # no subsampling of the training set
    assert probe["frac_copies"] == 1.0
    assert probe["pixels"]["copies"]["ci_low"] > 0.98
    assert probe["pixels"]["median_d_train"] == 0.0


def test_held_out_digits_are_not_flagged_and_calibrate_the_threshold(mnist):
    train, heldout = mnist
    # fresh real digits as "samples", calibrated on the other half of the held-out split
    probe = M.memorization_probe(heldout[:250], train, heldout[250:])
    assert probe["frac_copies"] == 0.0
    assert probe["pixels"]["copies"]["ci_high"] < 0.02
    # the calibration half itself stays clear of the threshold: the probe's false-positive rate is ~0
    assert probe["pixels"]["heldout_flagged"]["k"] == 0
    assert probe["pixels"]["heldout_min_score"] > probe["copy_ratio"]
    # a real digit's nearest training digit is no closer than other real digits' are
    assert probe["pixels"]["closer_than_heldout_p01"]["rate"] < 0.05


@pytest.mark.parametrize("sigma, at_least", [(0.05, 1.0), (0.1, 0.95)])
def test_noisy_copies_of_training_digits_are_still_flagged(mnist, sigma, at_least):
    train, heldout = mnist
    g = torch.Generator().manual_seed(0)
    noisy = (train[:200] + sigma * torch.randn(200, 1, 28, 28, generator=g)).clamp(-1, 1)
    assert M.memorization_probe(noisy, train, heldout)["frac_copies"] >= at_least


def test_feature_space_probe_flags_copies_and_reports_its_false_positives(mnist, classifier):
    train, heldout = mnist
    f_train, f_heldout = M.classifier_outputs(classifier, train)[0], M.classifier_outputs(classifier, heldout)[0]
    with pytest.warns(RuntimeWarning, match="held-out"):
        copies = M.memorization_probe(train[:100], train, heldout, classifier=classifier, train_features=f_train,
                                      heldout_features=f_heldout)
    assert copies["frac_copies_features"] == 1.0
    with pytest.warns(RuntimeWarning, match="held-out"):
        fresh = M.memorization_probe(heldout[:100], train, heldout[100:], classifier=classifier,
                                     train_features=f_train, heldout_features=f_heldout[100:])
    # features are coarser than pixels: a few real digits have a near-twin in feature space
    assert fresh["frac_copies_features"] < 0.05
    assert fresh["features"]["heldout_flagged"]["rate"] < 0.02


def test_copy_scores_are_relative_distances():
    ref = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    # a query on top of one reference point scores 0; one equidistant from all scores 1
    s = M.copy_scores(torch.tensor([[0.0, 0.0], [5.0, 5.0]]), ref, k=4)
    assert s[0] == pytest.approx(0.0) and s[1] == pytest.approx(1.0)
    d = M.neighbour_distances(torch.tensor([[1.0, 0.0]]), ref, k=2)
    assert d.tolist() == [[1.0, 9.0]]
    assert M.nearest_distances(torch.tensor([[1.0, 0.0]]), ref).tolist() == [1.0]


def test_bad_input_is_refused_with_a_teaching_error(mnist):
    train, heldout = mnist
    with pytest.raises(ValueError, match="copy_ratio"):
        M.memorization_probe(train[:4], train, heldout, copy_ratio=1.5)
    with pytest.raises(ValueError, match="k="):
        M.memorization_probe(train[:4], train[:10], heldout, k=50)
    with pytest.raises(ValueError, match="shapes differ"):
        M.memorization_probe(train[:4, :, :14], train, heldout)
    with pytest.raises(ValueError, match="NaN"):
        M.memorization_probe(torch.full((2, 1, 28, 28), float("nan")), train, heldout)
    with pytest.raises(TypeError, match="torch.Tensor"):
        M.memorization_probe(train[:4].numpy(), train, heldout)


def test_binomial_intervals_match_their_closed_forms():
    # k = 0: the exact upper bound is 1 - (alpha / 2)^(1 / n)
    lo, hi = M.binomial_ci(0, 100)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 100), rel=1e-9)
    lo, hi = M.binomial_ci(100, 100)
    assert hi == 1.0 and lo == pytest.approx(0.025 ** (1 / 100), rel=1e-9)
    r = M.rate_with_ci(28, 30)
    assert r["rate"] == pytest.approx(28 / 30) and r["ci_low"] < 28 / 30 < r["ci_high"]
    assert M.binomial_p_value(15, 30) == pytest.approx(1.0)
    assert M.binomial_p_value(25, 30) < 0.001
    with pytest.raises(ValueError, match="k=5"):
        M.binomial_ci(5, 3)
    with pytest.raises(ValueError, match="level"):
        M.binomial_ci(1, 3, level=95)


def test_a_memorising_model_is_flagged_and_its_probe_rate_has_an_interval(mnist):
    """Positive control: the exact denoiser of 32 training digits (what a network trained long enough on them converges to)."""
    from teachkit.models.exact import GaussianMixtureEps
    from teachkit.samplers import ddim_sample
    from teachkit.schedules import linear_schedule

    train, heldout = mnist
    schedule = linear_schedule()
    memoriser = GaussianMixtureEps(schedule, means=train[:32], std=0.05, labels=torch.zeros(32, dtype=torch.long),
                                   sample_shape=(1, 28, 28))
    x_T = torch.randn(32, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    samples = ddim_sample(memoriser, schedule, x_T, 10, record=False).sample.float()
    probe = M.memorization_probe(samples, train, heldout)
    assert probe["frac_copies"] == 1.0 and probe["pixels"]["copies"]["ci_low"] > 0.89
    # and each copy's nearest training digit is one of the 32 it memorised
    nearest = M.neighbour_distances(samples, train, k=1)
    idx = torch.cdist(samples.flatten(1).double(), train.flatten(1).double()).argmin(dim=1)
    assert (idx < 32).all() and nearest.max() < 3.0
