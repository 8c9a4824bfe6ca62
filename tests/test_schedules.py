"""Schedules, forward process and spacings against diffusers' scheduler tests (reference numbers)."""
import math

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
from hypothesis import given, settings

from teachkit.schedules import (NoiseSchedule, cosine_schedule, linear_schedule, rescale_zero_terminal_snr,
                                scaled_linear_schedule, timesteps)


def test_linear_values():
    s = linear_schedule()
    assert s.T == 1000 and s.betas.dtype == torch.float64
    assert s.betas[0].item() == pytest.approx(1e-4)
    assert s.betas[1].item() == pytest.approx(1.1991992e-4, rel=1e-6)
    assert s.betas[999].item() == pytest.approx(0.02)
    ab = s.alpha_bar
    for t, v in {0: 0.9999, 100: 0.895141, 499: 0.0785872, 960: 8.74131e-5, 980: 5.90375e-5, 999: 4.03583e-5}.items():
        assert ab[t].item() == pytest.approx(v, rel=1e-5), t


def test_linear_log_snr():
    s = linear_schedule()
    assert s.log_snr(999).item() == pytest.approx(-10.118, abs=1e-3)
    lam = 0.5 * s.log_snr()
    assert lam[0].item() == pytest.approx(4.60504, abs=1e-4)
    assert lam[500].item() == pytest.approx(-1.23633, abs=1e-4)
    assert lam[999].item() == pytest.approx(-5.05884, abs=1e-4)


def test_scaled_linear_and_cosine_values():
    ab = scaled_linear_schedule().alpha_bar
    assert [ab[t].item() for t in (0, 499, 999)] == pytest.approx([0.99915, 0.277670, 0.00466009], rel=1e-5)
    c = cosine_schedule()
    assert c.betas[0].item() == pytest.approx(4.12842e-5, rel=1e-5)
    assert c.betas[998].item() == pytest.approx(0.7499994, rel=1e-6)
    assert c.betas[999].item() == 0.999 and int((c.betas >= 0.999).sum()) == 1
    assert c.alpha_bar[499].item() == pytest.approx(0.493843, rel=1e-5)
    assert c.alpha_bar[999].item() == pytest.approx(2.42873e-9, rel=1e-4)


def test_zero_terminal_snr():
    z = rescale_zero_terminal_snr(linear_schedule())
    assert z.alpha_bar[999].item() == 0.0 and z.betas[999].item() == 1.0
    assert z.alpha_bar[0].item() == pytest.approx(0.9999, rel=1e-9)
    assert z.alpha_bar[499].item() == pytest.approx(0.0760288, rel=1e-5)
    assert z.alpha_bar[998].item() == pytest.approx(4.213e-9, rel=1e-3)


def test_alpha_bar_at_and_snr():
    s = linear_schedule()
    assert s.alpha_bar_at(-1) == 1.0
    assert s.alpha_bar_at(999) == pytest.approx(4.03583e-5, rel=1e-5)
    got = s.alpha_bar_at(torch.tensor([-1, 0, 999]))
    assert got.tolist() == pytest.approx([1.0, 0.9999, 4.03583e-5], rel=1e-5)
    assert s.snr(0).item() == pytest.approx(0.9999 / 1e-4, rel=1e-6)
    with pytest.raises(ValueError, match="out of range"):
        s.alpha_bar_at(1000)
    with pytest.raises(ValueError, match="out of range"):
        s.alpha_bar_at(-2)


def test_q_sample_matches_eq4_and_statistics():
    s = linear_schedule()
    x0 = torch.full((4, 3), 2.0)
    noise = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([0, 10, 500, 999])
    ab = s.alpha_bar[t].float()[:, None]
    assert torch.allclose(s.q_sample(x0, t, noise), ab.sqrt() * x0 + (1 - ab).sqrt() * noise)
    assert torch.allclose(s.q_sample(x0, 500, noise), s.q_sample(x0, torch.full((4,), 500), noise))
    # statistics of q(x_t | x_0): mean sqrt(ab) x0, variance 1 - ab
    big = s.q_sample(torch.ones(200_000, 1), 499)
    assert big.mean().item() == pytest.approx(math.sqrt(0.0785872), abs=0.01)
    assert big.var().item() == pytest.approx(1 - 0.0785872, abs=0.01)
    with pytest.raises(ValueError, match="batch size"):
        s.q_sample(x0, torch.tensor([1, 2]))


@pytest.mark.parametrize("spacing, steps, expected", [
    ("leading", 50, [980, 960] + [None] * 46 + [20, 0]),
    ("leading", 10, list(range(900, -1, -100))),
    ("leading", 3, [666, 333, 0]),
    ("trailing", 50, [999, 979, 959] + [None] * 45 + [39, 19]),
    ("trailing", 10, list(range(999, 98, -100))),
    ("trailing", 3, [999, 666, 332]),
    ("trailing", 13, [999, 922, 845, 768, 691, 614, 537, 461, 384, 307, 230, 153, 76]),
    ("linspace", 50, [999, 979, 958, 938] + [None] * 44 + [20, 0]),
    ("linspace", 10, [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]),
    ("linspace", 3, [999, 500, 0]),
])
def test_spacings_match_diffusers(spacing, steps, expected):
    ts = timesteps(1000, steps, spacing)
    assert ts.dtype == torch.long and ts.shape == (steps,)
    for got, want in zip(ts.tolist(), expected):
        if want is not None:
            assert got == want


def test_default_spacing_is_trailing():
    assert timesteps(1000, 3).tolist() == [999, 666, 332]


@pytest.mark.parametrize("kwargs, match", [
    (dict(steps=0), "at least one step"),
    (dict(steps=1001), "cannot visit more"),
    (dict(steps=10, spacing="uniform"), "unknown spacing"),
])
def test_timesteps_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        timesteps(1000, **kwargs)
    with pytest.raises(TypeError):
        timesteps(1000, 2.5)


@pytest.mark.parametrize("betas, match", [
    (torch.zeros(10), "must lie in"),
    (torch.full((10,), 1.5), "must lie in"),
    (torch.full((2, 5), 0.1), "shape"),
    (torch.tensor([0.1, float("nan")]), "NaN"),
])
def test_schedule_bad_betas(betas, match):
    with pytest.raises(ValueError, match=match):
        NoiseSchedule(betas)


@settings(max_examples=60, deadline=None)
@given(T=st.integers(1, 2000), frac=st.floats(0.0, 1.0), spacing=st.sampled_from(["leading", "trailing", "linspace"]))
def test_timesteps_property(T, frac, spacing):
    steps = max(1, round(frac * T))
    ts = timesteps(T, steps, spacing).numpy()
    assert len(ts) == steps
    assert ts.min() >= 0 and ts.max() < T
    assert np.all(np.diff(ts) < 0), "timesteps must be strictly descending"
