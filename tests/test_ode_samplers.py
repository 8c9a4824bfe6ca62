"""Euler and Heun on the probability-flow ODE: Euler is DDIM (eta 0), Heun is second order, and Heun agrees with
k-diffusion's sample_heun (Karras et al. 2022, Alg. 1) on the same denoiser and sigmas."""
import importlib.util
import math
import sys
import types

import pytest
import torch

from teachkit import load_pretrained
from teachkit.models.exact import GaussianMixtureEps
from teachkit.samplers import ddim_sample, euler_sample, heun_sample
from teachkit.samplers.euler import sigma_of
from teachkit.schedules import NoiseSchedule, cosine_schedule, karras_timesteps, linear_schedule

torch.set_num_threads(1)

MU, S = 1.5, 0.5  # the data: x_0 ~ N(MU, S^2 I)


class GaussianEps:
    """The exact eps of Gaussian data N(MU, S^2 I) on a VP schedule, as a plain function object (float64)."""

    def __init__(self, schedule):
        self.alpha_bar = schedule.alpha_bar  # float64

    def __call__(self, x_t, t, y=None):
        ab = self.alpha_bar[t].to(x_t.dtype).reshape(-1, *([1] * (x_t.ndim - 1)))
        a, s2 = ab.sqrt(), 1 - ab
        # E[x_0 | x_t] = MU + a S^2 / (a^2 S^2 + sigma^2) (x_t - a MU); eps = (x_t - a E[x_0 | x_t]) / sigma
        x0 = MU + a * S**2 / (ab * S**2 + s2) * (x_t - a * MU)
        return (x_t - a * x0) / s2.sqrt()


def exact_solution(schedule, x_T):
    """The probability-flow ODE's end point: in x_bar = x / sqrt(alpha_bar), x_bar - MU grows like sqrt(S^2 + sigma^2)."""
    sigma_T = sigma_of(float(schedule.alpha_bar[-1]))
    x_bar_T = x_T / math.sqrt(float(schedule.alpha_bar[-1]))
    return MU + (x_bar_T - MU) * S / math.sqrt(S**2 + sigma_T**2)


@pytest.mark.parametrize("schedule", [linear_schedule(), cosine_schedule()], ids=["linear", "cosine"])
def test_euler_is_ddim_at_eta_0(schedule):
    # float64: the two forms round differently (Euler scales x up by 1 / sqrt(alpha_bar_T) ~ 157 first), so in
    # float32 they differ by up to ~4e-3 on the first steps; in float64 they agree to ~1e-12
    model = GaussianEps(schedule)
    x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for steps in (1, 7, 50):
        a = euler_sample(model, schedule, x_T, steps)
        b = ddim_sample(model, schedule, x_T, steps)
        torch.testing.assert_close(a.xs, b.xs, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(a.x0_hats, b.x0_hats, rtol=1e-10, atol=1e-10)
        assert a.nfe == b.nfe == steps
    guided = GaussianMixtureEps(schedule)
    x32, y = x_T.float(), torch.arange(64) % 3
    a = euler_sample(guided, schedule, x32, 20, y=y, guidance_scale=2.0)
    b = ddim_sample(guided, schedule, x32, 20, y=y, guidance_scale=2.0)
    torch.testing.assert_close(a.sample, b.sample, rtol=1e-3, atol=1e-3)
    assert a.nfe == b.nfe == 40


def sigma_linear_schedule(T: int = 1600, sigma_max: float = 5.0) -> NoiseSchedule:
    """A VP schedule whose sigma(t) = sigma_max (t + 1) / T is linear in t, so evenly spaced timesteps are even steps in sigma."""
    sigma = sigma_max * (torch.arange(T, dtype=torch.float64) + 1) / T
    alpha_bar = 1 / (1 + sigma**2)
    prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
    return NoiseSchedule(1 - alpha_bar / prev, name="sigma-linear")


def test_heun_is_second_order_and_euler_first_order():
    # measured (float64, exact Gaussian model, 25/50/100/200 steps even in sigma): each halving of the step size
    # divides Euler's error by 1.94 / 1.97 / 1.98 and Heun's by 3.85 / 3.98 / 4.01. (On the linear schedule, trailing timesteps are not even
    # in sigma near t = 0, where sigma ~ sqrt(t); Heun's ratio there is 3.2.)
    schedule = sigma_linear_schedule()
    model = GaussianEps(schedule)
    x_T = torch.randn(256, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    want = exact_solution(schedule, x_T)
    err = {}
    for name, fn in (("euler", euler_sample), ("heun", heun_sample)):
        err[name] = [float((fn(model, schedule, x_T, n, spacing="trailing", record=False).sample - want).abs().max())
                     for n in (25, 50, 100, 200)]
    ratios = {k: [a / b for a, b in zip(v, v[1:])] for k, v in err.items()}
    assert all(1.8 < r < 2.2 for r in ratios["euler"]), ratios
    assert all(3.6 < r < 4.4 for r in ratios["heun"]), ratios
    # and at about equal network calls (Heun-100: 199 calls, Euler-200) Heun is 5x more accurate (0.0066 vs 0.034)
    assert err["heun"][2] < 0.25 * err["euler"][3], err


def test_heun_on_karras_sigmas_converges_too():
    schedule = linear_schedule()
    model = GaussianEps(schedule)
    x_T = torch.randn(256, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    want = exact_solution(schedule, x_T)
    errs = [float((heun_sample(model, schedule, x_T, n, record=False).sample - want).abs().max()) for n in (5, 10, 20)]
    assert errs[0] > 3 * errs[1] > 9 * errs[2], errs


def test_karras_timesteps():
    schedule = linear_schedule()
    ts = karras_timesteps(schedule, 18)
    assert ts[0] == 999 and ts[-1] == 0 and len(ts) == 18 and (ts.diff() < 0).all()
    # EDM Eq. (5) with rho = 7: the sigmas crowd at the low end; the rounding is to the nearest log sigma
    sig = [sigma_of(float(schedule.alpha_bar[t])) for t in ts]
    assert sig[0] == pytest.approx(157.4, rel=1e-3) and sig[-1] == pytest.approx(0.01, rel=1e-3)
    assert karras_timesteps(schedule, 1).tolist() == [999]
    # more steps than distinct rounded timesteps: each visited once, so fewer entries than asked for
    many = karras_timesteps(schedule, 1000)
    assert len(many) < 1000 and len(set(many.tolist())) == len(many)
    with pytest.raises(ValueError, match="at least one step"):
        karras_timesteps(schedule, 0)
    with pytest.raises(ValueError, match="rho"):
        karras_timesteps(schedule, 4, rho=0.0)


def _k_diffusion_sampling():
    """k-diffusion's own sampling.py. Its package __init__ imports torchvision, whose PyPI wheel does not load beside
    the CPU torch wheel; sampling.py uses only utils.append_dims and utils.append_zero, so those two are given here."""
    pytest.importorskip("torchdiffeq")
    pytest.importorskip("torchsde")
    spec = importlib.util.find_spec("k_diffusion")
    if spec is None:
        pytest.skip("k-diffusion is not installed (make test installs it with --no-deps)")
    path = spec.submodule_search_locations[0] + "/sampling.py"
    pkg = types.ModuleType("kd_peer")
    pkg.__path__ = []
    utils = types.ModuleType("kd_peer.utils")
    utils.append_dims = lambda x, n: x[(...,) + (None,) * (n - x.ndim)]
    utils.append_zero = lambda x: torch.cat([x, x.new_zeros([1])])
    sys.modules.update({"kd_peer": pkg, "kd_peer.utils": utils})
    mod_spec = importlib.util.spec_from_file_location("kd_peer.sampling", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("which, steps", [("exact", 18), ("toy-2d-cfg", 18), ("toy-2d-cfg", 3)])
def test_heun_matches_k_diffusion_sample_heun(which, steps):
    # 3 steps: Karras sigmas 157 -> 5.9 -> 0.01 -> 0; Heun's slope at sigma = 0.01 after a long Euler step is divided
    # by 0.01 and blows the moons apart (lesson 06: sliced W2 46 at 3 steps): k-diffusion does the same, and the same
    # amplification (~1e3) turns float32 rounding into a 1e-4 relative difference, so that case is held to 1e-3
    K = _k_diffusion_sampling()
    if which == "exact":
        schedule = linear_schedule()
        model, dtype, y = GaussianEps(schedule), torch.float64, None
    else:
        model, schedule, _ = load_pretrained("toy-2d-cfg")
        dtype, y = torch.float32, torch.arange(64) % 2
    x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=dtype)
    ours = heun_sample(model, schedule, x_T, steps, y=y)
    ts = ours.timesteps.tolist()
    alpha_bar = [float(schedule.alpha_bar[t]) for t in ts]
    sigmas = torch.tensor([sigma_of(ab) for ab in alpha_bar] + [0.0], dtype=dtype)
    t_of = {float(s): t for s, t in zip(sigmas[:-1], ts)}

    def denoiser(x_bar, sigma):
        # k-diffusion's D(x_bar; sigma) from our eps-model: x = sqrt(alpha_bar) x_bar, D = x_bar - sigma eps
        t = t_of[float(sigma[0])]
        ab = float(schedule.alpha_bar[t])
        t_batch = torch.full((x_bar.shape[0],), t, dtype=torch.long)
        eps = model(math.sqrt(ab) * x_bar, t_batch) if y is None else model(math.sqrt(ab) * x_bar, t_batch, y)
        return x_bar - sigma.reshape(-1, 1) * eps

    states = []
    x_bar_T = x_T / math.sqrt(alpha_bar[0])
    with torch.no_grad():
        theirs = K.sample_heun(denoiser, x_bar_T, sigmas, disable=True, callback=lambda d: states.append(d["x"]))
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    if len(ts) < 5:
        tol = dict(rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(ours.sample, theirs, **tol)
    # every step: k-diffusion's x_i (the state before step i) is our xs[i] / sqrt(alpha_bar_i)
    for i, x_bar in enumerate(states):
        torch.testing.assert_close(ours.xs[i] / math.sqrt(alpha_bar[i]), x_bar, **tol)
