"""Flow matching: the linear path, the continuous-t models, the objective, flow_sample's solvers and their bad-input errors."""
import json
import math

import pytest
import torch

from teachkit.flow import FlowPath, flow_path_from_spec, flow_path_spec, flow_times
from teachkit.training.flow_matching import check_flow_model, flow_matching_loss, train_flow
from teachkit.models import SmallUNet, ToyMLP, sinusoidal_embedding
from teachkit.models.exact_flow import GaussianMixtureVelocity, gaussian_flow_solution
from teachkit.samplers import ddim_sample, ddpm_sample, dpm_solver_sample, flow_sample, flow_step
from teachkit.schedules import linear_schedule

torch.set_num_threads(1)
PATH = FlowPath()


def test_path_endpoints_velocity_and_inverses():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    assert torch.equal(PATH.interpolate(x0, eps, 0.0), x0) and torch.equal(PATH.interpolate(x0, eps, 1.0), eps)
    t = torch.rand(5, generator=g)
    # the target is d x_t / d t: a central difference in t reproduces it
    h = 1e-3
    fd = (PATH.interpolate(x0.double(), eps.double(), t.double() + h)
          - PATH.interpolate(x0.double(), eps.double(), t.double() - h)) / (2 * h)
    torch.testing.assert_close(fd, PATH.target_velocity(x0.double(), eps.double()), rtol=1e-9, atol=1e-9)
    x_t, v = PATH.interpolate(x0, eps, t), PATH.target_velocity(x0, eps)
    torch.testing.assert_close(PATH.x0_from_velocity(x_t, v, t), x0)
    torch.testing.assert_close(PATH.eps_from_velocity(x_t, v, t), eps)
    torch.testing.assert_close(PATH.velocity_from_eps(x_t, eps, t), v, rtol=1e-4, atol=1e-4)
    assert flow_path_from_spec(flow_path_spec()) == PATH


def test_path_rejects_bad_times():
    x = torch.zeros(2, 2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        PATH.interpolate(x, x, torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        PATH.interpolate(x, x, -0.1)
    with pytest.raises(TypeError, match="real"):
        PATH.interpolate(x, x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="bad flow path"):
        flow_path_from_spec({"name": "cosine"})
    with pytest.raises(ValueError, match="at least 1 step"):
        flow_times(0)
    assert flow_times(4).tolist() == [1.0, 0.75, 0.5, 0.25, 0.0]


@pytest.mark.parametrize("make", [lambda **kw: ToyMLP(num_classes=2, **kw),
                                  lambda **kw: SmallUNet(channels=(8, 16), emb_dim=32, num_classes=3, **kw)])
def test_integer_timesteps_unchanged(make):
    # an eps-model (time_scale None) embeds integer t exactly as before: sinusoidal features of t, then the MLP
    torch.manual_seed(0)
    model = make()
    assert model.time_scale is None and "time_scale" not in model.config
    t = torch.tensor([0, 999])
    assert torch.equal(model.time_emb(t), model.time_emb.mlp(sinusoidal_embedding(t, model.time_emb.dim)))
    with pytest.raises(TypeError, match="integer timesteps"):
        model(torch.randn(2, *model.sample_shape), t.float() / 1000)


def test_shipped_eps_outputs_bit_identical():
    # the shipped mnist-cfg through today's forward equals the same network assembled by hand from its layers
    from teachkit import load_pretrained

    model, _, _ = load_pretrained("mnist-cfg")
    g = torch.Generator().manual_seed(0)
    x, t, y = torch.randn(3, 1, 28, 28, generator=g), torch.tensor([0, 500, 999]), torch.tensor([1, 7, 10])
    emb = model.time_emb.mlp(sinusoidal_embedding(t, model.time_emb.dim)) + model.label_emb(y)
    h, skips = model.conv_in(x), []
    for block, down in zip(model.down, model.downsample):
        h = block(h, emb)
        skips.append(h)
        h = down(h)
    for block in model.mid:
        h = block(h, emb)
    for block, up in zip(model.up, model.upsample):
        h = block(torch.cat([h, skips.pop()], dim=1), emb)
        if not isinstance(up, torch.nn.Identity):
            h = up(torch.nn.functional.interpolate(h, scale_factor=2.0, mode="nearest"))
    want = model.conv_out(torch.nn.functional.silu(model.norm_out(h)))
    assert torch.equal(model(x, t, y), want)


@pytest.mark.parametrize("make", [lambda: ToyMLP(num_classes=2, prediction="velocity", time_scale=1000.0),
                                  lambda: SmallUNet(channels=(8, 16), emb_dim=32, num_classes=3, prediction="velocity", time_scale=1000.0)])
def test_continuous_time_model(make):
    torch.manual_seed(0)
    model = make()
    for p in model.parameters():
        if p.abs().sum() == 0:
            # the UNet's zero-initialised output layers would hide any effect of t
            torch.nn.init.normal_(p, std=0.2)
    x = torch.randn(2, *model.sample_shape)
    assert model.config["time_scale"] == 1000.0
    clone = type(model)(**model.config)
    assert clone.time_scale == 1000.0
    # a number is broadcast; t * time_scale enters the same features
    assert torch.equal(model(x, 0.25), model(x, torch.full((2,), 0.25)))
    assert torch.equal(model.time_emb(torch.tensor([0.25, 0.5]) * 1000), model.time_emb(torch.tensor([250.0, 500.0])))
    assert not torch.allclose(model(x, 0.1), model(x, 0.9))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model(x, torch.tensor([0.5, 2.0]))
    with pytest.raises(TypeError, match="float t in \\[0, 1\\]"):
        model(x, torch.tensor([10, 20]))
    with pytest.raises(ValueError, match="time_scale"):
        type(model)(time_scale=-1.0)


def test_flow_matching_loss_is_the_formula():
    torch.manual_seed(0)
    model = check_flow_model(ToyMLP(num_classes=2, prediction="velocity", time_scale=1000.0))
    x0, y = torch.randn(8, 2), torch.randint(0, 2, (8,))
    loss = flow_matching_loss(model, PATH, x0, y, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    t, eps = torch.rand(8, generator=g), torch.randn(8, 2, generator=g)
    x_t = (1 - t[:, None]) * x0 + t[:, None] * eps
    assert torch.equal(loss, (model(x_t, t, y) - (eps - x0)).pow(2).mean())
    with pytest.raises(TypeError, match="prediction='velocity', time_scale"):
        check_flow_model(ToyMLP())
    with pytest.raises(ValueError, match="give it a time_scale"):
        ToyMLP(prediction="velocity")


def test_train_flow_learns_the_moons():
    from teachkit.datasets import toy
    from teachkit.metrics import sliced_wasserstein

    x, y = toy("moons", 4000, seed=0)
    torch.manual_seed(0)
    result = train_flow(ToyMLP(num_classes=2, prediction="velocity", time_scale=1000.0), PATH, x, y, steps=300, batch_size=256, lr=3e-3,
                        ema_decay=0.98, warmup=30, progress=False)
    first, last = sum(result.losses[:30]) / 30, sum(result.losses[-30:]) / 30
    assert last < 0.85 * first
    assert result.ema_model.prediction == "velocity"
    x_T = torch.randn(1000, 2, generator=torch.Generator().manual_seed(1))
    sample = flow_sample(result.ema_model, PATH, x_T, 20, record=False).sample
    noise_w2 = sliced_wasserstein(x_T, toy("moons", 1000, seed=5)[0])
    assert sliced_wasserstein(sample, toy("moons", 1000, seed=5)[0]) < 0.5 * noise_w2
    with pytest.raises(TypeError, match="FlowPath"):
        train_flow(ToyMLP(num_classes=2, prediction="velocity", time_scale=1000.0), linear_schedule(), x, y, steps=1)


def test_solver_orders_on_an_exact_gaussian_flow():
    # one Gaussian N(mu, 0.5^2): the exact solution from x_1 = z is (1 - t) mu + sqrt(v_t) z (exact_flow)
    mu, std = torch.tensor([[1.5, -0.5]]), 0.5
    model = GaussianMixtureVelocity(mu, std)
    z = torch.randn(256, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    exact = gaussian_flow_solution(mu[0].double(), std, z, 0.0)
    err = {m: [(flow_sample(model, PATH, z, s, method=m, record=False).sample - exact).abs().max().item()
               for s in (8, 16, 32)] for m in ("euler", "midpoint", "heun")}
    for m, (lo, hi) in (("euler", (1.5, 2.8)), ("midpoint", (3.0, 16.0)), ("heun", (3.0, 16.0))):
        ratios = [err[m][i] / err[m][i + 1] for i in range(2)]
        # halving h divides the global error by about 2 (first order) or at least 3 (second order)
        assert all(lo < r < hi for r in ratios), (m, err[m])
    assert err["heun"][0] < err["euler"][-1]


def test_trajectory_nfe_and_callback():
    model = GaussianMixtureVelocity()
    x_T = torch.randn(6, 2, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 0, 1, 3])
    steps_seen = []
    tr = flow_sample(model, PATH, x_T, 5, method="heun", y=y, guidance_scale=2.0, callback=steps_seen.append)
    assert tr.nfe == 5 * 2 * 2 and tr.sampler == "Flow (Heun)"
    assert tr.xs.shape == (6, 6, 2) and tr.x0_hats.shape == (5, 6, 2)
    assert torch.equal(tr.xs[0], x_T) and torch.equal(tr.xs[-1], tr.sample)
    assert tr.timesteps.tolist() == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])
    assert [s.i for s in steps_seen] == list(range(5)) and steps_seen[-1].steps == 5
    assert torch.equal(steps_seen[2].x, tr.xs[3])
    model.calls = 0
    tr = flow_sample(model, PATH, x_T, 7, record=False)
    assert tr.nfe == 7 == model.calls and tr.xs is None

    class Stop(Exception):
        pass

    def stop(step):
        if step.i == 1:
            raise Stop

    with pytest.raises(Stop):
        flow_sample(model, PATH, x_T, 5, callback=stop)


def test_guidance_is_cfg_on_the_velocity():
    model = GaussianMixtureVelocity()
    x, t = torch.randn(4, 2, generator=torch.Generator().manual_seed(0)), 0.6
    y = torch.tensor([0, 1, 2, 1])
    # one Euler step of the guided flow equals x + h (v_u + s (v_c - v_u))
    tr = flow_sample(model, PATH, x, 1, y=y, guidance_scale=3.0)
    tb = torch.ones(4)
    v_c, v_u = model(x, tb, y), model(x, tb, torch.full((4,), model.null_label))
    torch.testing.assert_close(tr.sample, x - (v_u + 3.0 * (v_c - v_u)))
    # the exact model's label keeps its own component: class 0 lands near mu_0 = (2, 0)
    x_T = torch.randn(200, 2, generator=torch.Generator().manual_seed(1))
    out = flow_sample(model, PATH, x_T, 50, method="heun", y=0, record=False).sample
    assert (out.mean(0) - torch.tensor([2.0, 0.0])).abs().max() < 0.1
    assert out.std(0).sub(0.3).abs().max() < 0.06


def test_flow_step_matches_hand_written_steps():
    def vel(x, t):
        return x * t - 1.0

    x = torch.tensor([[0.3, -0.2]])
    e, _ = flow_step(vel, x, 1.0, 0.5, "euler")
    torch.testing.assert_close(e, x - 0.5 * vel(x, 1.0))
    m, _ = flow_step(vel, x, 1.0, 0.5, "midpoint")
    torch.testing.assert_close(m, x - 0.5 * vel(x - 0.25 * vel(x, 1.0), 0.75))
    h, _ = flow_step(vel, x, 1.0, 0.5, "heun")
    torch.testing.assert_close(h, x - 0.25 * (vel(x, 1.0) + vel(x - 0.5 * vel(x, 1.0), 0.5)))


def test_bad_input(gauss_model, linear):
    flow = GaussianMixtureVelocity()
    x_T = torch.randn(3, 2)
    # a flow model handed to an eps sampler, and an eps-model handed to flow_sample
    for sampler in (ddim_sample, ddpm_sample, dpm_solver_sample):
        with pytest.raises(TypeError, match="flow_sample"):
            sampler(flow, linear, x_T, steps=4)
    with pytest.raises(TypeError, match="cannot use GaussianMixtureEps"):
        flow_sample(gauss_model, PATH, x_T, 4)
    with pytest.raises(TypeError, match="FlowPath"):
        flow_sample(flow, linear, x_T, 4)
    with pytest.raises(ValueError, match="at least one step"):
        flow_sample(flow, PATH, x_T, 0)
    with pytest.raises(TypeError, match="steps must be an int"):
        flow_sample(flow, PATH, x_T, 2.5)
    with pytest.raises(ValueError, match="method"):
        flow_sample(flow, PATH, x_T, 4, method="rk4")
    with pytest.raises(ValueError, match="sample shape"):
        flow_sample(flow, PATH, torch.randn(3, 5), 4)
    with pytest.raises(ValueError, match="NaN"):
        flow_sample(flow, PATH, torch.full((3, 2), math.nan), 4)
    with pytest.raises(ValueError, match="needs labels"):
        flow_sample(flow, PATH, x_T, 4, guidance_scale=3.0)
    with pytest.raises(TypeError, match="guidance_scale"):
        flow_sample(flow, PATH, x_T, 4, y=0, guidance_scale=float("inf"))


def test_shipped_toy_flow():
    from teachkit import load_pretrained
    from teachkit.datasets import toy, toy_class_log_prob
    from teachkit.metrics import class_adherence, sliced_wasserstein

    model, path, info = load_pretrained("toy-2d-flow")
    assert isinstance(path, FlowPath) and model.prediction == "velocity" and info["path"] == {"name": "linear"}
    x_ref, y_ref = toy("moons", 1000, seed=7)
    x_T = torch.randn(1000, 2, generator=torch.Generator().manual_seed(0))
    out = flow_sample(model, path, x_T, 10, method="heun", y=y_ref, record=False).sample
    assert sliced_wasserstein(out, x_ref) < 0.2
    assert class_adherence(out, y_ref, lambda p: toy_class_log_prob("moons", p)) > 0.97


def test_cli_samples_and_evaluates_a_flow_model(tmp_path, capsys):
    from teachkit.__main__ import main

    assert main(["sample", "toy-2d-flow", "--steps", "5", "--n", "64", "--out", str(tmp_path / "s.png")]) == 0
    assert "Flow (Euler) 5 steps" in capsys.readouterr().out
    assert main(["evaluate", "toy-2d-flow", "--sampler", "Flow (Heun)", "--steps", "5", "--scale", "1",
                 "--n", "500"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["nfe"] == 10 and result["sliced_w2"] < 0.3 and result["adherence"] > 0.95
    with pytest.raises(SystemExit):
        main(["sample", "toy-2d-flow", "--sampler", "DDIM"])
    assert "its samplers are: Flow (Euler), Flow (midpoint), Flow (Heun)" in capsys.readouterr().err


def test_shipped_mnist_flow_meets_the_bar_on_a_few_digits():
    # the recorded bar: 200/200 at 20 NFE (Euler-10, scale 3); here 20 digits, 2 per class, the same budget
    from teachkit import load_pretrained

    model, path, info = load_pretrained("mnist-flow")
    classifier = load_pretrained("mnist-classifier")[0]
    assert isinstance(path, FlowPath) and model.time_scale == 1000.0 and info["hyperparameters"]["steps"] == 6000
    y = torch.arange(10).repeat_interleave(2)
    x_T = torch.randn(20, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    tr = flow_sample(model, path, x_T, 10, y=y, guidance_scale=3.0, record=False)
    assert tr.nfe == 20
    assert (classifier.predict(tr.sample.clamp(-1, 1)) == y).float().mean() >= 0.95
    from teachkit.evaluation import quality_rows

    q = {(r["sampler"], r["steps"], r["guidance_scale"]): r for r in quality_rows(info)}
    assert q["Flow (Euler)", 10, 3.0]["accuracy"] >= 0.95 and q["Flow (Euler)", 20, 0.0]["digits_present"] == 10
