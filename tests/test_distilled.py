"""Distilled few-step sampling: the consistency step by hand, the boundary condition, the sampler's contract,
a tiny consistency distillation of an exact 2-D teacher, and the shipped students' quality."""
import math

import pytest
import torch

from teachkit.checkpoints import checkpoint_dir, load_checkpoint, load_pretrained
from teachkit.training.distill import consistency_distillation_loss, distill, distillation_grid, make_student
from teachkit.metrics import sliced_wasserstein
from teachkit.models import ToyMLP
from teachkit.models.exact import GaussianMixtureEps
from teachkit.samplers import consistency_step, ddim_sample, distilled_sample
from teachkit.samplers.distilled import student_x0

torch.set_num_threads(1)


def test_consistency_step_by_hand(linear):
    ab_t, ab_prev = linear.alpha_bar_at(999), linear.alpha_bar_at(749)
    assert ab_t == pytest.approx(4.03583e-05, rel=1e-5) and ab_prev == pytest.approx(3.35055e-03, rel=1e-5)
    x_t, v, z = torch.tensor([0.5]), torch.tensor([0.1]), torch.tensor([0.2])
    x_prev, x0_hat = consistency_step(x_t, v, ab_t, ab_prev, noise=z)
    # x0_hat = sqrt(4.03583e-5) 0.5 - sqrt(1 - 4.03583e-5) 0.1 = 0.0031764 - 0.0999980
    assert x0_hat.item() == pytest.approx(-0.0968216, rel=1e-5)
    # x_prev = sqrt(3.35055e-3) x0_hat + sqrt(1 - 3.35055e-3) 0.2 = -0.0056044 + 0.1996646
    assert x_prev.item() == pytest.approx(0.1940602, rel=1e-5)
    # the last step goes to clean: no noise, the sample is x0_hat
    x_prev, x0_hat = consistency_step(x_t, v, ab_t, 1.0, noise=z)
    assert torch.equal(x_prev, x0_hat)


def test_boundary_condition_and_conditioning(linear):
    x, v = torch.randn(100, 2), torch.randn(100, 2)
    # CM Eq. (4): f(x, clean) = x exactly (alpha_bar = 1)
    assert torch.equal(student_x0(x, v, 1.0), x)
    # at t = 0 the v form is within sqrt(1 - alpha_bar_0) = 0.01 of the identity, whatever the network says
    f0 = student_x0(x, v, linear.alpha_bar_at(0))
    assert ((f0 - x).abs() <= 0.0101 * v.abs() + 1e-4 * x.abs()).all()
    # well-conditioned: d f / d v = -sqrt(1 - alpha_bar_t) never exceeds 1, where the eps form's 1 / sqrt(alpha_bar) reaches ~157
    ab = linear.alpha_bar
    assert float((1 - ab).sqrt().max()) <= 1.0 and float(ab.sqrt().reciprocal().max()) == pytest.approx(157.4, rel=1e-3)


def test_trajectory_contract_and_nfe(linear, half_v):
    student = half_v()
    x_T = torch.randn(6, 2, generator=torch.Generator().manual_seed(0))
    for steps in (1, 2, 4, 8):
        student.calls = 0
        tr = distilled_sample(student, linear, x_T, steps, y=torch.arange(6) % 3, generator=torch.Generator().manual_seed(1))
        assert tr.nfe == steps == student.calls and tr.steps == steps
        assert tr.xs.shape == (steps + 1, 6, 2) and tr.x0_hats.shape == (steps, 6, 2)
        assert torch.equal(tr.xs[0], x_T) and torch.equal(tr.sample, tr.x0_hats[-1])
        assert tr.timesteps[0] == 999 and (tr.timesteps.diff() < 0).all()
    assert distilled_sample(student, linear, x_T, 4).timesteps.tolist() == [999, 749, 499, 249]
    # step 1 is f(x_T, 999) itself
    torch.testing.assert_close(tr.x0_hats[0], student_x0(x_T, 0.5 * x_T, linear.alpha_bar_at(999)))
    cheap = distilled_sample(student, linear, x_T, 4, record=False)
    assert cheap.xs is None and cheap.x0_hats is None and cheap.sample.shape == (6, 2)


def test_determinism_and_generator(linear, half_v):
    student = half_v()
    x_T = torch.randn(16, 2)
    run = lambda k, seed: distilled_sample(student, linear, x_T, k, generator=torch.Generator().manual_seed(seed)).sample
    assert torch.equal(run(4, 3), run(4, 3)) and not torch.equal(run(4, 3), run(4, 4))
    # one step adds no noise: the generator does not matter
    assert torch.equal(run(1, 3), run(1, 4))


@pytest.mark.parametrize("call, exc, match", [
    (lambda s, sch: distilled_sample(GaussianMixtureEps(sch), sch, torch.randn(4, 2)), TypeError, "distilled student"),
    (lambda s, sch: distilled_sample("model", sch, torch.randn(4, 2)), TypeError, "callable"),
    (lambda s, sch: distilled_sample(s, sch, torch.randn(4, 2), 0), ValueError, "can take 1 to 40 steps"),
    (lambda s, sch: distilled_sample(s, sch, torch.randn(4, 2), 41), ValueError, "grid of 40 timesteps"),
    (lambda s, sch: distilled_sample(s, sch, torch.randn(4, 2), 2.5), TypeError, "steps must be an int"),
    (lambda s, sch: distilled_sample(s, sch, torch.randn(4, 2), 4, spacing="trailing"), TypeError, "spacing"),
    (lambda s, sch: ddim_sample(s, sch, torch.randn(4, 2)), TypeError, "distilled student"),
    (lambda s, sch: distilled_sample(s, sch, torch.full((4, 2), math.nan)), ValueError, "NaN or inf"),
    (lambda s, sch: distilled_sample(s, sch, torch.randn(4, 2), y=9), ValueError, "labels must lie"),
    (lambda s, sch: distilled_sample(s, "linear", torch.randn(4, 2)), TypeError, "NoiseSchedule"),
    (lambda s, sch: distilled_sample(s, sch, torch.randn(4, 2), guidance_scale=3.0), TypeError, "guidance_scale"),
    (lambda s, sch: consistency_step(torch.randn(4, 2), torch.randn(4, 3), 0.5, 0.9), ValueError, "shaped like"),
    (lambda s, sch: distillation_grid(1000, 0), ValueError, "intervals"),
])
def test_bad_input_is_explained(linear, half_v, call, exc, match):
    with pytest.raises(exc, match=match):
        call(half_v(), linear)


def test_distill_rejects_bad_settings(linear):
    teacher, x = GaussianMixtureEps(linear), torch.randn(64, 2)
    with pytest.raises(ValueError, match="positive integer"):
        distill(teacher, linear, x, student=ToyMLP(num_classes=3), steps=0)
    with pytest.raises(ValueError, match="EMA rate"):
        distill(teacher, linear, x, student=ToyMLP(num_classes=3), steps=5, target_decay=1.0)
    with pytest.raises(ValueError, match="num_classes"):
        distill(teacher, linear, x, student=ToyMLP(num_classes=None), steps=5)
    with pytest.raises(TypeError, match="eps-model"):
        distill(make_student(ToyMLP(num_classes=3), (999,)), linear, x, steps=5)


def test_grid_ends_at_clean_and_the_last_target_is_the_teacher_ddim_step(linear):
    t, s = distillation_grid(1000, 40)
    assert t[:3].tolist() == [999, 974, 949] and t[-1] == 24 and s[-2:].tolist() == [24, -1]
    # on the last interval the target is the teacher's DDIM step to clean (CM Eq. 4): with a perfect student
    # (f equal to that target) the loss there is ~0, and a student that is off by 0.1 pays 0.01
    teacher = GaussianMixtureEps(linear)

    class Perfect(torch.nn.Module):
        prediction = "v"

        def forward(self, x_t, t, y=None):
            ab = linear.alpha_bar.float()[t].reshape(-1, 1)
            x0 = (x_t - (1 - ab).sqrt() * teacher(x_t, t, y)) / ab.sqrt()
            # Salimans & Ho, Sec. 4 solved for v: v = (sqrt(alpha_bar) x_t - x0) / sqrt(1 - alpha_bar) gives f = x0 (+ offset)
            return (ab.sqrt() * x_t - x0 - self.offset) / (1 - ab).sqrt()

    last = (t[-1:], s[-1:])
    x0, y = teacher.sample(256, generator=torch.Generator().manual_seed(0))
    for offset, want in ((0.0, 0.0), (-0.1, 0.01)):
        net = Perfect()
        net.offset = offset
        loss = consistency_distillation_loss(net, net, teacher, linear.alpha_bar.float(), last, x0, y, 1.0,
                                             torch.Generator().manual_seed(1))
        assert loss.item() == pytest.approx(want, abs=1e-4)


def test_tiny_distillation_improves_few_step_quality(linear):
    # exact teacher: N(mu_k, 0.3^2 I) at (2, 0), (-2, 0), (0, 2); a small random student learns it in ~3 s of CPU
    teacher = GaussianMixtureEps(linear)
    gen = torch.Generator().manual_seed(0)
    x, y = teacher.sample(4096, generator=gen)
    x_ref = teacher.sample(1000, generator=gen)[0]
    x_T = torch.randn(1000, 2, generator=gen)
    torch.manual_seed(0)
    untrained = make_student(ToyMLP(hidden=64, layers=2, emb_dim=32, num_classes=3),
                             tuple(distillation_grid(1000, 10)[0].tolist()))

    def w2(student, steps):
        tr = distilled_sample(student, linear, x_T, steps, generator=torch.Generator().manual_seed(2), record=False)
        return sliced_wasserstein(tr.sample, x_ref)

    result = distill(teacher, linear, x, y, student=untrained, guidance_scale=1.0, intervals=10, steps=500,
                     batch_size=256, lr=3e-3, warmup=20, progress=False)
    # measured: sliced W2 1.23 -> ~0.37 at 1 step, 0.97 -> ~0.35 at 4 steps (fresh data vs data: 0.11)
    for steps in (1, 4):
        before, after = w2(untrained, steps), w2(result.ema_model, steps)
        assert after < 0.5 * before, (steps, before, after)
    assert sum(result.losses[-20:]) < sum(result.losses[:20])


# ---- the shipped students ----------------------------------------------------------------------------------

def _shipped(name):
    if not (checkpoint_dir() / f"{name}.json").exists():
        pytest.skip(f"{name} is not shipped in this checkout (python -m teachkit train {name})")
    return load_pretrained(name)


def test_toy_student_beats_the_teacher_ddim_at_four_steps():
    student, schedule, info = _shipped("toy-2d-distilled")
    teacher = load_pretrained("toy-2d-cfg")[0]
    assert info["prediction"] == "v" and info["teacher"]["name"] == "toy-2d-cfg" and student.prediction == "v"
    assert info["command"].startswith("python -m teachkit train toy-2d-distilled")
    from teachkit.datasets import toy

    x_ref, y_ref = toy("moons", 2000, seed=12345)
    x_T = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))
    w = info["guidance_scale"]
    s4 = distilled_sample(student, schedule, x_T, 4, y=y_ref, generator=torch.Generator().manual_seed(1), record=False)
    d4 = ddim_sample(teacher, schedule, x_T, 4, y=y_ref, guidance_scale=w, record=False)
    assert s4.nfe == 4 and d4.nfe == (4 if w == 1 else 8)
    assert sliced_wasserstein(s4.sample, x_ref) < sliced_wasserstein(d4.sample, x_ref)
    # one step already lands near the data (the teacher's DDIM-1 is the blurry mean)
    s1 = distilled_sample(student, schedule, x_T, 1, y=y_ref, record=False).sample
    d1 = ddim_sample(teacher, schedule, x_T, 1, y=y_ref, guidance_scale=w, record=False).sample
    assert sliced_wasserstein(s1, x_ref) < 0.5 * sliced_wasserstein(d1, x_ref)


def test_mnist_student_draws_the_requested_digits():
    student, schedule, info = _shipped("mnist-distilled")
    classifier = load_pretrained("mnist-classifier")[0]
    y = torch.arange(10).repeat_interleave(5)
    x_T = torch.randn(50, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert info["prediction"] == "v" and info["teacher"]["name"] == "mnist-cfg" and student.prediction == "v"

    def accuracy(x):
        return (classifier.predict(x.clamp(-1, 1)) == y).float().mean().item()

    tr = distilled_sample(student, schedule, x_T, 4, y=y, generator=torch.Generator().manual_seed(1), record=False)
    assert tr.nfe == 4 and tr.sample.shape == (50, 1, 28, 28)
    assert accuracy(tr.sample) >= 0.9
    # one network call: the student draws the digit, the teacher's DDIM-1 (two calls, guided) mostly does not
    one = distilled_sample(student, schedule, x_T, 1, y=y, record=False).sample
    ddim1 = ddim_sample(load_pretrained("mnist-cfg")[0], schedule, x_T, 1, y=y, guidance_scale=info["guidance_scale"],
                        record=False).sample
    assert accuracy(one) >= 0.9 and accuracy(one) > accuracy(ddim1) + 0.2


def test_cli_distills_and_loads_a_student(tmp_path):
    from teachkit.__main__ import main

    assert main(["train", "toy-2d-distilled", "--steps", "5", "--batch-size", "64", "--out", str(tmp_path),
                 "--run-dir", str(tmp_path / "runs"), "--no-eval", "--quiet", "--threads", "1"]) == 0
    student, schedule, info = load_checkpoint(tmp_path / "toy-2d-distilled")
    assert student.prediction == "v" and info["guidance_scale"] == 1.0 and info["hyperparameters"]["steps"] == 5
    assert info["teacher"]["weights_sha256"] == load_pretrained("toy-2d-cfg")[2]["weights_sha256"]
    tr = distilled_sample(student, schedule, torch.randn(3, 2), 2, y=torch.tensor([0, 1, 2]))
    assert tr.sample.shape == (3, 2) and tr.nfe == 2
