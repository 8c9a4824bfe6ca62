"""The benchmark harness: the exact-score mixture model is exact, and the quick profile runs end to end."""
from __future__ import annotations

import json
import math

import pytest
import torch

from teachkit.bench import main
from teachkit.bench.tasks import mixture_task
from teachkit.samplers import ddim_sample


def test_mixture_eps_is_minus_sigma_times_the_score_of_the_noisy_marginal():
    task = mixture_task()
    model = task.model
    x = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    for t in (0, 300, 999):
        ab = float(task.schedule.alpha_bar[t])
        # log p_t(x) = logsumexp_k log N(x; sqrt(ab) m_k, v I) - log K, differentiated by autograd
        log_p = torch.logsumexp(model.component_log_prob(x, ab), dim=1).sum()
        (score,) = torch.autograd.grad(log_p, x)
        eps = model(x.detach(), torch.full((16,), t))
        torch.testing.assert_close(eps, -math.sqrt(1 - ab) * score, rtol=1e-9, atol=1e-9)


def test_mixture_labels_select_their_component():
    task = mixture_task()
    x_T = torch.randn(400, 2, generator=torch.Generator().manual_seed(1))
    y = torch.arange(400) % task.model.num_classes
    x0 = ddim_sample(task.model, task.schedule, x_T, 50, y=y, record=False).sample
    # the exact conditional score puts each sample at its own ring position
    assert (task.class_log_prob(x0).argmax(dim=1) == y).float().mean() > 0.99


@pytest.mark.slow
def test_quick_profile_writes_results_and_keeps_earlier_sections(tmp_path):
    assert main(["--quick", "--only", "toy", "--threads", "1", "--out", str(tmp_path)]) == 0
    assert main(["--quick", "--only", "speed", "--threads", "1", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "bench.json").read_text())
    assert results["runs"]["toy"]["threads"] == 1 and "speed" in results["runs"]
    assert results["toy_nfe"][0]["rows"] and "ratio" in results["speed"]["sampler_vs_bare"]
    page = (tmp_path / "RESULTS.md").read_text()
    assert page.startswith("# teachkit benchmark results") and "ring8" in page and "bare forwards" in page
    assert (tmp_path / "quality_vs_nfe_2d.png").stat().st_size > 0


@pytest.mark.slow
def test_quick_mnist_sections_score_samplers_students_and_a_same_label_floor(tmp_path):
    assert main(["--quick", "--only", "mnist-nfe", "mnist-guidance", "cuda", "--threads", "1",
                 "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "bench.json").read_text())
    nfe = results["mnist_nfe"][0]
    samplers = {row["sampler"] for row in nfe["rows"]}
    assert {"DDPM", "DDIM", "DPM-Solver++(2M)"} <= samplers
    if nfe["task"] == "mnist-cfg":  # the shipped models are present: the distilled student has its rows
        assert any(name.startswith("Distilled") for name in samplers)
    floor = nfe["data_floor"]
    assert floor["draws"] == 5 and floor["cfid_sd"] > 0 and floor["accuracy"] > 0.9
    assert [row["scale"] for row in results["mnist_guidance"][0]["rows"]] == [0, 3]
    page = (tmp_path / "RESULTS.md").read_text()
    assert "real data (5 draws, same labels)" in page and " +- " in page
    if not torch.cuda.is_available():
        assert results["cuda"] == "no CUDA device on this machine" and "(not run: no CUDA device" in page


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="mnist-n"):
        main(["--quick", "--mnist-n", "3", "--only", "toy"])
    with pytest.raises(SystemExit):
        main(["--only", "nonsense"])


def test_mnist_floor_draws_distinct_real_digits_with_the_samples_labels():
    from teachkit.evaluation.scoring import _balanced_draw

    labels = torch.arange(60) % 10  # six examples of each digit
    y = torch.tensor([3, 3, 3, 7, 0, 7])
    idx = _balanced_draw(labels, y, torch.Generator().manual_seed(0))
    assert torch.equal(labels[idx], y) and idx.unique().numel() == y.numel()
    with pytest.raises(ValueError, match="class 3"):
        _balanced_draw(labels, torch.full((7,), 3), torch.Generator().manual_seed(0))


def test_speed_headline_states_each_target_and_whether_it_was_met():
    from teachkit.bench.tables import _speed_headline

    speed = {"sampler_vs_bare": {"sampler": "DDIM-50", "batch": 10, "ratio": {"median": 1.2, "min": 1.1}},
             "teachkit_vs_diffusers": [{"batch": 64, "DDIM-50": {"ratio_teachkit_over_diffusers": {"median": 0.7},
                                                                 "ratio_bare_over_diffusers": {"median": 0.5}}}]}
    lines = _speed_headline(speed, "CPU")
    assert "1.200 (target <= 1.10: NOT met)" in lines[0]
    assert "DDIM-50 0.700 (target <= 0.90: met), limit 0.500" in lines[1]
