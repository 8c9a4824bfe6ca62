"""The perceptual study, scripted: trial bookkeeping, scoring against chance with exact intervals, the widget's buttons."""
from __future__ import annotations

import pytest
import torch

from teachkit.widgets import PerceptualStudy
from teachkit.widgets.perceptual import Trial, make_trials, score_answers


def digits(n: int, value: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (value + 0.1 * torch.randn(n, 1, 28, 28, generator=g)).clamp(-1, 1)


@pytest.fixture()
def study():
    # "real" digits are bright, the "bad" sampler's are dark, the "good" sampler's look like real ones
    real = digits(50, 0.5, 0)
    return PerceptualStudy(real, {"bad": digits(20, -0.5, 1), "good": digits(20, 0.5, 2)}, per_condition=40, seed=3)


def test_trials_cover_every_condition_and_both_sides():
    trials = make_trials(50, {"a": 10, "b": 3}, per_condition=30, seed=0)
    assert len(trials) == 60 and {t.condition for t in trials} == {"a", "b"}
    assert {t.real_side for t in trials} == {"left", "right"}
    # a pool of 10 is used up before any digit repeats
    first = [t.generated_index for t in trials if t.condition == "a"]
    assert sorted(first) == sorted(list(range(10)) * 3)
    assert trials == make_trials(50, {"a": 10, "b": 3}, per_condition=30, seed=0)  # seeded
    with pytest.raises(ValueError, match="per_condition"):
        make_trials(5, {"a": 3}, per_condition=0)


def test_a_student_who_sees_the_difference_beats_chance_and_one_who_cannot_does_not(study):
    # this student picks the brighter digit: right on "bad" pairs, a coin flip on "good" ones
    res = study.run(lambda left, right: "left" if left.mean() > right.mean() else "right")
    assert study.done and set(res) == {"bad", "good"}
    assert res["bad"]["k"] == 40 and res["bad"]["p_value_vs_chance"] < 1e-6 and res["bad"]["ci_low"] > 0.9
    assert res["good"]["ci_low"] < 0.5 < res["good"]["ci_high"]
    assert "bad" in study.summary() and "40/40" in study.summary()
    assert study.buttons["left"].disabled and "done" in study.progress.value


def test_scores_count_only_answered_trials():
    trials = [Trial("x", 0, 0, "left"), Trial("x", 1, 1, "right"), Trial("y", 0, 0, "left")]
    res = score_answers(trials, ["left", "left"])
    assert res == {"x": {"k": 1, "n": 2, "rate": 0.5, "ci_low": pytest.approx(0.0126, abs=1e-4),
                         "ci_high": pytest.approx(0.9874, abs=1e-4), "p_value_vs_chance": pytest.approx(1.0)}}
    with pytest.raises(ValueError, match="answers"):
        score_answers(trials[:1], ["left", "left"])


def test_clicking_the_buttons_records_answers_and_shows_the_next_pair(study):
    first = study.images["left"].value
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and "trial 1 of 80" in study.progress.value
    real_side = study.trials[0].real_side
    study.buttons[real_side].click()
    assert study.answers == [real_side] and "trial 2 of 80" in study.progress.value
    assert study.results()[study.trials[0].condition]["k"] == 1
    # without a front end the widget still shows the current pair as a picture
    assert "image/png" in study._repr_mimebundle_()
    with pytest.raises(ValueError, match="left' or 'right"):
        study.choose("middle")


def test_bad_input_is_refused():
    real = digits(5, 0.5, 0)
    with pytest.raises(ValueError, match="non-empty dict"):
        PerceptualStudy(real, {})
    with pytest.raises(ValueError, match="has images"):
        PerceptualStudy(real, {"x": torch.zeros(3, 1, 14, 14)})
    with pytest.raises(TypeError, match="torch.Tensor"):
        PerceptualStudy(real.numpy(), {"x": real})
    s = PerceptualStudy(real, {"x": real}, per_condition=1)
    s.choose("left")
    with pytest.raises(ValueError, match="answered"):
        s.choose("left")
