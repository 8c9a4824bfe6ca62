"""Peer equivalence: teachkit's samplers vs diffusers' schedulers on the same model, schedule and timesteps.

diffusers keeps alpha_bar in float32 and teachkit in float64; that round-off stays below 1e-5 for
the short chains here and grows to ~1e-4 over DDPM's 1000 steps (bit-identical with the same alpha_bar).

Where the two agree by construction (DDIM "leading" for any step count; DDIM "trailing" when T is a
multiple of steps; DDPM and DPM-Solver++(2M) for any timestep list) every x_t and x0_hat along the
trajectory matches to 1e-5 relative. Where they differ, the tests pin down exactly why:

* teachkit's "prev" is the next entry of the timestep list (or -1, clean). diffusers' DDIMScheduler
  uses prev = t - T // steps. The two coincide for "leading" (ts = k * (T // steps)) and for
  "trailing" when T % steps == 0; for "linspace" (999, 888, ..., 111, 0 at steps=10: strides of 111,
  not 100) and "trailing" with T % steps != 0 (999, 666, 332 at steps=3: diffusers jumps 666 -> 333)
  diffusers' DDIM lands on timesteps it never visits. DDPMScheduler takes prev from its list, as we do.
* diffusers' DPMSolverMultistepScheduler builds "leading" and "linspace" from steps + 1 points and
  drops the last (T // (steps + 1) strides), unlike its DDIM/DDPM; handing it our timestep list
  (set_timesteps(timesteps=...)) gives identical trajectories.
"""
from __future__ import annotations

import pytest
import torch

diffusers = pytest.importorskip("diffusers")
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler  # noqa: E402

from teachkit.samplers import ddim_sample, ddim_step, ddpm_sample, dpm_solver_sample  # noqa: E402
from teachkit.schedules import linear_schedule, timesteps  # noqa: E402

T = 1000
RTOL = 1e-5
LINEAR = dict(num_train_timesteps=T, beta_start=1e-4, beta_end=0.02, beta_schedule="linear")


class TinyEps(torch.nn.Module):
    """A fixed, nonlinear, t-dependent eps-model on 2-D points (random weights, seed 0)."""

    sample_shape = (2,)

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w1 = torch.nn.Parameter(torch.randn(3, 32, generator=g) * 0.7)
        self.w2 = torch.nn.Parameter(torch.randn(32, 2, generator=g) * 0.3)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, y=None) -> torch.Tensor:
        s = (t.float() / T).reshape(-1, 1)  # (B, 1)
        return torch.tanh(torch.cat([x_t, s], dim=1) @ self.w1) @ self.w2 + 0.5 * x_t * s


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b| over the whole trajectory."""
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def run_diffusers(scheduler, model, x_T: torch.Tensor, **step_kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """Drive a diffusers scheduler with `model`; returns (xs (S+1, B, ...), x0_hats or empty)."""
    x, xs, x0s = x_T, [x_T], []
    for t in scheduler.timesteps:
        eps = model(x, torch.full((x.shape[0],), int(t), dtype=torch.long))
        out = scheduler.step(eps, t, x, **step_kwargs)
        x = out.prev_sample
        xs.append(x)
        if getattr(out, "pred_original_sample", None) is not None:
            x0s.append(out.pred_original_sample)
    return torch.stack(xs), torch.stack(x0s) if x0s else torch.empty(0)


@pytest.fixture(scope="module")
def model() -> TinyEps:
    return TinyEps().eval()


def x_T(seed: int = 1, n: int = 64) -> torch.Tensor:
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- DDIM


@pytest.mark.parametrize(
    "spacing, steps", [("leading", 50), ("leading", 10), ("leading", 3), ("leading", 7), ("trailing", 50), ("trailing", 10)]
)
def test_ddim_matches_diffusers(model, spacing, steps):
    sched = DDIMScheduler(**LINEAR, clip_sample=False, set_alpha_to_one=True, timestep_spacing=spacing)
    sched.set_timesteps(steps)
    ours = ddim_sample(model, linear_schedule(), x_T(), steps=steps, spacing=spacing)
    assert torch.equal(ours.timesteps, sched.timesteps)
    xs, x0s = run_diffusers(sched, model, x_T(), eta=0.0)
    assert rel_err(ours.xs, xs) < RTOL
    assert rel_err(ours.x0_hats, x0s) < RTOL


def test_ddim_with_eta_1_matches_diffusers_given_the_same_generator(model):
    sched = DDIMScheduler(**LINEAR, clip_sample=False, timestep_spacing="trailing")
    sched.set_timesteps(20)
    ours = ddim_sample(model, linear_schedule(), x_T(), steps=20, eta=1.0, generator=torch.Generator().manual_seed(5))
    xs, _ = run_diffusers(sched, model, x_T(), eta=1.0, generator=torch.Generator().manual_seed(5))
    assert rel_err(ours.xs, xs) < RTOL


def test_ddim_matches_diffusers_published_full_loop_number():
    # diffusers' DDIM full-loop test: eps(x, t) = x t / (t + 1), 10 "leading" steps, x0_hat clipped to [-1, 1]
    class Dummy(torch.nn.Module):
        def forward(self, x, t, y=None):
            t = t.float().reshape(-1, 1, 1, 1)
            return x * t / (t + 1)

    sample = (torch.arange(768, dtype=torch.float32) / 768).reshape(3, 8, 8, 4).permute(3, 0, 1, 2)
    out = ddim_sample(Dummy(), linear_schedule(), sample.contiguous(), steps=10, spacing="leading", clip_x0=1.0)
    assert float(out.sample.abs().sum()) == pytest.approx(172.0067, abs=1e-3)
    assert float(out.sample.abs().mean()) == pytest.approx(0.223967, abs=1e-5)


@pytest.mark.parametrize("spacing, steps", [("linspace", 10), ("linspace", 50), ("trailing", 3), ("trailing", 13)])
def test_ddim_where_diffusers_differs_it_is_the_fixed_stride_prev(model, spacing, steps):
    """diffusers' DDIM = our ddim_step with prev = t - T // steps; teachkit = prev from the list."""
    schedule = linear_schedule()
    sched = DDIMScheduler(**LINEAR, clip_sample=False, set_alpha_to_one=True, timestep_spacing=spacing)
    sched.set_timesteps(steps)
    ts = timesteps(T, steps, spacing)
    assert torch.equal(ts, sched.timesteps)  # same visited timesteps...
    theirs, _ = run_diffusers(sched, model, x_T(), eta=0.0)

    def manual(prevs: list[int]) -> torch.Tensor:
        x, xs = x_T(), [x_T()]
        for t, prev in zip(ts.tolist(), prevs):
            eps = model(x, torch.full((x.shape[0],), t, dtype=torch.long))
            x, _ = ddim_step(x, eps, schedule.alpha_bar_at(t), schedule.alpha_bar_at(max(prev, -1)))
            xs.append(x)
        return torch.stack(xs)

    stride = [t - T // steps for t in ts.tolist()]
    assert rel_err(manual(stride), theirs) < RTOL  # ...but diffusers re-noises to t - T // steps
    ours = ddim_sample(model, schedule, x_T(), steps=steps, spacing=spacing)
    assert rel_err(manual(ts.tolist()[1:] + [-1]), ours.xs) < RTOL
    # and the difference is real, not round-off
    assert rel_err(ours.xs, theirs) > 1e-4


# ---------------------------------------------------------------- DDPM


@pytest.mark.parametrize("variance, diffusers_variance", [("small", "fixed_small"), ("large", "fixed_large")])
@pytest.mark.parametrize("spacing, steps", [("leading", 50), ("trailing", 50), ("linspace", 20), ("trailing", 13)])
def test_ddpm_matches_diffusers(model, spacing, steps, variance, diffusers_variance):
    schedule = linear_schedule()
    sched = DDPMScheduler(**LINEAR, clip_sample=False, variance_type=diffusers_variance, timestep_spacing=spacing)
    sched.set_timesteps(steps)
    g = torch.Generator().manual_seed(3)
    ours = ddpm_sample(model, schedule, x_T(), steps=steps, spacing=spacing, variance=variance, generator=g)
    assert torch.equal(ours.timesteps, sched.timesteps)
    xs, x0s = run_diffusers(sched, model, x_T(), generator=torch.Generator().manual_seed(3))
    assert rel_err(ours.x0_hats, x0s) < RTOL
    t_last = int(ours.timesteps[-1])
    if variance == "large" and t_last > 0:
        # The one difference: on the last step (t_last -> clean) diffusers' "fixed_large" still adds
        # sqrt(beta) z with beta = 1 - alpha_bar_t_last, because it draws noise whenever t > 0; teachkit
        # (like DDPM Alg. 2 at t = 1) adds none when the target is clean. Replay that draw to show it.
        assert rel_err(ours.xs[:-1], xs[:-1]) < RTOL
        z = torch.randn(ours.sample.shape, generator=g)  # the draw diffusers made and teachkit did not
        beta = 1.0 - schedule.alpha_bar_at(t_last)
        assert rel_err(ours.sample + beta**0.5 * z, xs[-1]) < RTOL
    else:
        assert rel_err(ours.xs, xs) < RTOL


def test_ddpm_full_1000_step_chain_matches_diffusers(model):
    # diffusers keeps alpha_bar in float32, teachkit in float64. Over a 1000-step chain on this
    # (expanding) toy model the float32 round-off grows to ~7e-5 relative; with the same float64
    # alpha_bar copied into the scheduler the two trajectories agree to 1e-5 (bit-for-bit here).
    for same_alpha_bar, tol in ((True, RTOL), (False, 2e-4)):
        sched = DDPMScheduler(**LINEAR, clip_sample=False, variance_type="fixed_small")
        if same_alpha_bar:
            sched.alphas_cumprod = linear_schedule().alpha_bar.clone()
        sched.set_timesteps(T)
        ours = ddpm_sample(model, linear_schedule(), x_T(n=16), generator=torch.Generator().manual_seed(4))
        xs, _ = run_diffusers(sched, model, x_T(n=16), generator=torch.Generator().manual_seed(4))
        assert ours.nfe == T
        assert rel_err(ours.xs, xs) < tol


# ---------------------------------------------------------------- DPM-Solver++(2M)


def dpm_scheduler(spacing: str = "trailing") -> DPMSolverMultistepScheduler:
    return DPMSolverMultistepScheduler(
        **LINEAR, algorithm_type="dpmsolver++", solver_order=2, solver_type="midpoint",
        lower_order_final=True, final_sigmas_type="zero", timestep_spacing=spacing,
    )


@pytest.mark.parametrize("steps", [5, 10, 15, 20, 25])
def test_dpm_solver_matches_diffusers_trailing(model, steps):
    sched = dpm_scheduler("trailing")
    sched.set_timesteps(steps)
    ours = dpm_solver_sample(model, linear_schedule(), x_T(), steps=steps, spacing="trailing")
    assert torch.equal(ours.timesteps, sched.timesteps)
    xs, _ = run_diffusers(sched, model, x_T())
    assert rel_err(ours.xs, xs) < RTOL


@pytest.mark.parametrize("spacing, steps", [("leading", 10), ("linspace", 10), ("linspace", 20)])
def test_dpm_solver_matches_diffusers_on_our_timestep_list(model, spacing, steps):
    sched = dpm_scheduler(spacing)
    sched.set_timesteps(steps)
    ts = timesteps(T, steps, spacing)
    assert not torch.equal(ts, sched.timesteps)  # diffusers' own DPM "leading"/"linspace" lists differ...
    sched.set_timesteps(timesteps=ts.tolist())  # ...so hand it ours
    ours = dpm_solver_sample(model, linear_schedule(), x_T(), steps=steps, spacing=spacing)
    xs, _ = run_diffusers(sched, model, x_T())
    assert rel_err(ours.xs, xs) < RTOL


def test_dpm_solver_first_order_is_ddim(model):
    # DPM-Solver-1 = DDIM with eta = 0 (DPM-Solver paper, Sec. 4.1)
    a = dpm_solver_sample(model, linear_schedule(), x_T(), steps=10, order=1)
    b = ddim_sample(model, linear_schedule(), x_T(), steps=10)
    assert rel_err(a.xs, b.xs) < RTOL
