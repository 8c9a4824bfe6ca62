"""DDPM, DDIM and DPM-Solver++ against the papers, diffusers' reference numbers and each other."""
import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given, settings

from teachkit.models.exact import GaussianMixtureEps
from teachkit.samplers import ddim_sample, ddim_step, ddpm_sample, ddpm_step, dpm_solver_sample
from teachkit.schedules import NoiseSchedule, linear_schedule, rescale_zero_terminal_snr


def ddim_variance_over_eta2(s, t, prev):
    ab_t, ab_prev = s.alpha_bar_at(t), s.alpha_bar_at(prev)
    return (1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)


@pytest.mark.parametrize("t, prev, want", [(420, 400, 0.14771), (980, 960, 0.32460), (487, 486, 0.00979),
                                           (999, 998, 0.02000)])
def test_ddim_variance_reference(linear, t, prev, want):
    # DDIM Eq. (16) at eta = 1, reference numbers from diffusers' DDIM scheduler tests
    assert ddim_variance_over_eta2(linear, t, prev) == pytest.approx(want, abs=1e-5)


def test_ddim_variance_equals_ddpm_posterior_variance(linear):
    # DDIM with eta=1 and every timestep visited has DDPM's beta_tilde: 0.0100513 at t=500
    assert ddim_variance_over_eta2(linear, 500, 499) == pytest.approx(0.0100513, rel=1e-5)
    for t in range(1, 1000):
        beta_tilde = (1 - linear.alpha_bar_at(t - 1)) / (1 - linear.alpha_bar_at(t)) * linear.betas[t].item()
        assert ddim_variance_over_eta2(linear, t, t - 1) == pytest.approx(beta_tilde, rel=1e-9)
    assert linear.betas[487].item() == pytest.approx(0.009801, rel=1e-4)  # "large" variance at 487


def test_ddim_single_step_reference(linear):
    x, eps = torch.tensor([0.5]), torch.tensor([0.1])
    x_prev, x0_hat = ddim_step(x, eps, linear.alpha_bar_at(980), linear.alpha_bar_at(960))
    assert x0_hat.item() == pytest.approx(52.0594, rel=1e-5)
    assert x_prev.item() == pytest.approx(0.586725, rel=1e-5)
    x_prev, x0_hat = ddim_step(x, eps, linear.alpha_bar_at(980), linear.alpha_bar_at(960), clip_x0=1.0)
    assert x0_hat.item() == 1.0 and x_prev.item() == pytest.approx(0.109345, rel=1e-5)


def test_ddim_full_loop_matches_diffusers(linear, dummy_eps):
    # diffusers' DDIM full-loop test: 10 "leading" steps, eta 0, x0_hat clipped to [-1, 1]
    sample = (torch.arange(768) / 768).reshape(3, 8, 8, 4).permute(3, 0, 1, 2)
    tr = ddim_sample(dummy_eps, linear, sample, 10, spacing="leading", clip_x0=1.0)
    assert tr.timesteps.tolist() == list(range(900, -1, -100))
    assert tr.sample.abs().sum().item() == pytest.approx(172.0067, rel=1e-5)
    assert tr.sample.abs().mean().item() == pytest.approx(0.223967, rel=1e-5)


def test_ddim_eta1_equals_ddpm_small_with_same_noise(linear):
    g = torch.Generator().manual_seed(0)
    x_t, eps, noise = (torch.randn(64, 2, generator=g) for _ in range(3))
    for t, prev in [(999, 998), (500, 499), (500, 300), (10, 0)]:
        ab_t, ab_prev = linear.alpha_bar_at(t), linear.alpha_bar_at(prev)
        a, a0 = ddim_step(x_t, eps, ab_t, ab_prev, eta=1.0, noise=noise)
        b, b0 = ddpm_step(x_t, eps, ab_t, ab_prev, variance="small", noise=noise)
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(a0, b0)


def test_ddpm_step_variances_and_last_step(linear):
    x_t, eps = torch.zeros(200_000, 1), torch.zeros(200_000, 1)
    ab_t, ab_prev = linear.alpha_bar_at(487), linear.alpha_bar_at(486)
    for variance, want in [("small", None), ("large", linear.betas[487].item())]:
        x_prev, _ = ddpm_step(x_t, eps, ab_t, ab_prev, variance=variance)
        if want is None:
            want = (1 - ab_prev) / (1 - ab_t) * linear.betas[487].item()
        assert x_prev.var().item() == pytest.approx(want, rel=0.02)
    # to clean: no noise, and the posterior mean is x0_hat itself
    x_t = torch.randn(5, 2)
    x_prev, x0_hat = ddpm_step(x_t, torch.randn(5, 2), linear.alpha_bar_at(0), 1.0, variance="large")
    torch.testing.assert_close(x_prev, x0_hat)
    with pytest.raises(ValueError, match="unknown variance"):
        ddpm_step(x_t, x_t, 0.5, 0.6, variance="fixed")


def test_worked_anchor_three_ddim_steps(linear, gauss_model):
    x_T = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    tr = ddim_sample(gauss_model, linear, x_T, steps=3)
    assert tr.timesteps.tolist() == [999, 666, 332] and tr.nfe == 3
    assert tr.xs.shape == (4, 8, 2) and tr.x0_hats.shape == (3, 8, 2)
    torch.testing.assert_close(tr.xs[0], x_T)
    torch.testing.assert_close(tr.sample, tr.x0_hats[-1])  # the last step returns x0_hat
    guided = ddim_sample(gauss_model, linear, x_T, steps=3, y=0, guidance_scale=3.0)
    assert guided.nfe == 6


def test_ddim_eta0_deterministic_bit_for_bit(linear, gauss_model):
    x_T = torch.randn(32, 2)
    a = ddim_sample(gauss_model, linear, x_T, 20, y=1, guidance_scale=2.0).sample
    b = ddim_sample(gauss_model, linear, x_T, 20, y=1, guidance_scale=2.0).sample
    assert torch.equal(a, b)


def test_generator_makes_stochastic_samplers_reproducible(linear, gauss_model):
    x_T = torch.randn(16, 2)
    runs = [ddpm_sample(gauss_model, linear, x_T, steps=50, generator=torch.Generator().manual_seed(s)).sample
            for s in (1, 1, 2)]
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])
    r = [ddim_sample(gauss_model, linear, x_T, 10, eta=0.5, generator=torch.Generator().manual_seed(3)).sample
         for _ in range(2)]
    assert torch.equal(*r)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpm"])
def test_samplers_reach_the_data_distribution(linear, gauss_model, sampler):
    # the exact eps of N(mu_0, 0.3^2 I): samples should have that mean and spread. The ODE samplers
    # need enough steps for so narrow a Gaussian: DDIM-50 still gives a spread of 0.27 (its
    # discretisation error), DDIM-200 0.29-0.30 and DPM-Solver++ (second order) 0.30 at 100 steps.
    x_T = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    tr = {"ddpm": lambda: ddpm_sample(gauss_model, linear, x_T, y=0, generator=g, record=False),
          "ddim": lambda: ddim_sample(gauss_model, linear, x_T, 200, y=0, record=False),
          "dpm": lambda: dpm_solver_sample(gauss_model, linear, x_T, 100, y=0, record=False)}[sampler]()
    assert tr.xs is None and tr.x0_hats is None
    assert tr.sample.mean(0).tolist() == pytest.approx([2.0, 0.0], abs=0.03)
    assert tr.sample.std(0).tolist() == pytest.approx([0.3, 0.3], abs=0.015)
    assert tr.nfe == {"ddpm": 1000, "ddim": 200, "dpm": 100}[sampler]


def test_ddim_eta0_equals_dpm_solver_first_order(linear, gauss_model):
    x_T = torch.randn(64, 2)
    a = ddim_sample(gauss_model, linear, x_T, 15, y=2).sample
    b = dpm_solver_sample(gauss_model, linear, x_T, 15, order=1, y=2).sample
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_dpm_solver_midpoint_form_identity():
    D0, D1, r = torch.randn(10), torch.randn(10), 0.7
    torch.testing.assert_close(D0 + 0.5 * (D0 - D1) / r, (1 + 1 / (2 * r)) * D0 - D1 / (2 * r))


def test_cfg_through_samplers(linear, gauss_model):
    x_T = torch.randn(16, 2)
    y = torch.full((16,), 1)
    cond = ddim_sample(gauss_model, linear, x_T, 10, y=y).sample
    scale1 = ddim_sample(gauss_model, linear, x_T, 10, y=y, guidance_scale=1.0)
    assert torch.equal(cond, scale1.sample) and scale1.nfe == 10
    uncond = ddim_sample(gauss_model, linear, x_T, 10).sample
    scale0 = ddim_sample(gauss_model, linear, x_T, 10, y=y, guidance_scale=0.0)
    assert torch.equal(uncond, scale0.sample) and scale0.nfe == 10
    assert ddpm_sample(gauss_model, linear, x_T, steps=7, y=y, guidance_scale=4.0).nfe == 14
    assert dpm_solver_sample(gauss_model, linear, x_T, 5, y=y, guidance_scale=4.0).nfe == 10


def test_ddpm_with_fewer_steps_uses_listed_prev(linear, gauss_model):
    tr = ddpm_sample(gauss_model, linear, torch.randn(4, 2), steps=50, spacing="linspace")
    assert tr.timesteps[:4].tolist() == [999, 979, 958, 938] and tr.nfe == 50


@pytest.mark.parametrize("call, exc, match", [
    (lambda m, s: ddim_sample(m, s, torch.randn(4, 2), 0), ValueError, "at least one step"),
    (lambda m, s: ddim_sample(m, s, torch.randn(4, 2), 1001), ValueError, "more timesteps"),
    (lambda m, s: ddim_sample(m, s, torch.randn(4, 2), 10, spacing="even"), ValueError, "unknown spacing"),
    (lambda m, s: ddim_sample(m, s, torch.randn(4, 2), 10, eta=1.5), ValueError, r"outside \[0, 1\]"),
    (lambda m, s: ddim_sample(m, s, torch.randn(4, 2), 10, eta=-0.1), ValueError, r"outside \[0, 1\]"),
    (lambda m, s: ddpm_sample(m, s, torch.randn(4, 2), variance="huge"), ValueError, "unknown variance"),
    (lambda m, s: ddim_sample(m, s, torch.full((4, 2), float("nan"))), ValueError, "NaN or inf"),
    (lambda m, s: ddim_sample(m, s, torch.randn(4, 3)), ValueError, "expects"),
    (lambda m, s: ddim_sample(m, s, torch.zeros(4, 2, dtype=torch.long)), TypeError, "floating"),
    (lambda m, s: ddim_sample(m, s, torch.randn(4, 2), y=7), ValueError, "labels must lie"),
    (lambda m, s: ddim_sample(m, s, torch.randn(4, 2), y=torch.zeros(3, dtype=torch.long)), ValueError, "shape"),
    (lambda m, s: ddim_sample(m, s, torch.randn(4, 2), y=torch.zeros(4)), TypeError, "integer"),
    (lambda m, s: ddim_sample(m, s, torch.randn(4, 2), guidance_scale=3.0), ValueError, "needs labels"),
    (lambda m, s: dpm_solver_sample(m, s, torch.randn(4, 2), order=3), ValueError, "order"),
])
def test_bad_input_is_explained(linear, gauss_model, call, exc, match):
    with pytest.raises(exc, match=match):
        call(gauss_model, linear)


def test_shape_the_model_rejects_is_explained(linear):
    net = torch.nn.Linear(2, 2)

    class Tiny(torch.nn.Module):
        def forward(self, x, t, y=None):
            return net(x)

    with pytest.raises(ValueError, match=r"rejected x_T of shape \(4, 3\)"):
        ddim_sample(Tiny(), linear, torch.randn(4, 3), 5)


def test_labels_for_unconditional_model_rejected(linear, dummy_eps):
    with pytest.raises(ValueError, match="unconditional"):
        ddim_sample(dummy_eps, linear, torch.randn(2, 2), 5, y=0)


def test_zero_terminal_snr_refused_for_eps_models(gauss_model):
    z = rescale_zero_terminal_snr(linear_schedule())
    with pytest.raises(ValueError, match="zero terminal SNR"):
        ddim_sample(gauss_model, z, torch.randn(2, 2), 10)
    assert ddim_sample(gauss_model, z, torch.randn(2, 2), 10, spacing="leading").sample.isfinite().all()


def test_negative_and_huge_guidance_allowed(linear, gauss_model):
    for scale in (-2.0, 30.0, 100.0):
        tr = ddim_sample(gauss_model, linear, torch.randn(8, 2), 10, y=0, guidance_scale=scale)
        assert tr.sample.isfinite().all()


@settings(max_examples=25, deadline=None)
@given(T=st.integers(2, 300), b0=st.floats(1e-5, 1e-2), b1=st.floats(1e-3, 0.3), frac=st.floats(0, 1),
       spacing=st.sampled_from(["leading", "trailing", "linspace"]), eta=st.floats(0, 1))
def test_trajectories_finite_over_random_schedules(T, b0, b1, frac, spacing, eta):
    s = NoiseSchedule(torch.linspace(b0, b1, T, dtype=torch.float64))
    steps = max(1, round(frac * T))
    model = GaussianMixtureEps(s)
    tr = ddim_sample(model, s, torch.randn(8, 2), steps, spacing=spacing, eta=eta, y=0, guidance_scale=2.0)
    assert tr.xs.shape == (steps + 1, 8, 2)
    assert torch.isfinite(tr.xs).all() and torch.isfinite(tr.x0_hats).all()
    assert (tr.timesteps.diff() < 0).all()
