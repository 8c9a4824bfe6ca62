"""Training: a short 2-D run lowers the loss and moves samples towards the data; label dropout; exact resume."""
import pytest
import torch

from teachkit.datasets import toy
from teachkit.metrics import sliced_wasserstein
from teachkit.models import ToyMLP
from teachkit.samplers import ddim_sample
from teachkit.schedules import linear_schedule
from teachkit.training import drop_labels, lr_at, train

torch.set_num_threads(1)


def test_short_run_learns_moons():
    x, y = toy("moons", 4000, seed=0)
    schedule = linear_schedule()
    seen = []
    result = train(ToyMLP(num_classes=2, hidden=64), schedule, x, y, steps=400, batch_size=256, lr=3e-3,
                   ema_decay=0.99, progress=False, callback=lambda step, losses, m: seen.append(step), callback_every=100)
    assert seen == [100, 200, 300, 400] and len(result.losses) == 400
    assert sum(result.losses[-50:]) / 50 < 0.8 * sum(result.losses[:50]) / 50
    x_T = torch.randn(1000, 2, generator=torch.Generator().manual_seed(0))
    samples = ddim_sample(result.ema_model, schedule, x_T, 20, record=False).sample
    ref = toy("moons", 1000, seed=1)[0]
    # samples are measurably closer to the data than the noise they started from
    assert sliced_wasserstein(samples, ref) < 0.5 * sliced_wasserstein(x_T, ref)


def test_drop_labels():
    y = torch.arange(10).repeat(1000)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(drop_labels(y, 10, 0.0, g), y)
    dropped = drop_labels(y, 10, 0.3, g)
    frac = (dropped == 10).float().mean().item()
    assert 0.27 < frac < 0.33
    assert torch.equal(dropped[dropped != 10], y[dropped != 10])


def test_lr_schedule():
    assert lr_at(0, 1.0, 100, 10, "cosine") == pytest.approx(0.1)
    assert lr_at(10, 1.0, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_at(100, 1.0, 100, 10, "cosine") == pytest.approx(0.1)
    assert lr_at(50, 1.0, 100, 10, "constant") == 1.0


class Interrupt(Exception):
    pass


def _stop_at(step_to_stop):
    def callback(step, losses, model):
        if step == step_to_stop:
            raise Interrupt
    return callback


def fresh(seed=0):
    torch.manual_seed(seed)
    return ToyMLP(num_classes=8, hidden=32)


def test_resume_is_exact(tmp_path):
    x, y = toy("eight_gaussians", 500, seed=0)
    schedule = linear_schedule(T=100)
    kw = dict(steps=30, batch_size=64, progress=False, seed=1, checkpoint_every=10, callback_every=5)
    straight = train(fresh(), schedule, x, y, checkpoint_dir=tmp_path / "a", **kw)
    # interrupted at step 25: the last saved state is step 20, which resume continues from
    with pytest.raises(Interrupt):
        train(fresh(), schedule, x, y, checkpoint_dir=tmp_path / "b",
              callback=_stop_at(25), **kw)
    resumed = train(fresh(), schedule, x, y, checkpoint_dir=tmp_path / "b", resume=True, **kw)
    assert resumed.losses == straight.losses
    for a, b in zip(straight.ema_model.state_dict().values(), resumed.ema_model.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(FileNotFoundError, match="no training state"):
        train(fresh(), schedule, x, y, checkpoint_dir=tmp_path / "none", resume=True, **kw)


def test_bad_training_input():
    model = ToyMLP(num_classes=2)
    x, y = toy("moons", 100)
    s = linear_schedule()
    with pytest.raises(ValueError, match="sample_shape"):
        train(model, s, torch.randn(10, 3), steps=1, progress=False)
    with pytest.raises(ValueError, match="labels must lie in 0 .. 1"):
        train(model, s, x, y + 5, steps=1, progress=False)
    with pytest.raises(ValueError, match="unconditional"):
        train(ToyMLP(), s, x, y, steps=1, progress=False)
    with pytest.raises(ValueError, match="p_uncond"):
        train(model, s, x, y, steps=1, p_uncond=1.0, progress=False)
    with pytest.raises(ValueError, match="positive integer"):
        train(model, s, x, y, steps=0, progress=False)


def test_augment_keeps_shape_and_background():
    from teachkit.training.recipes import augment

    g = torch.Generator().manual_seed(0)
    blank = -torch.ones(4, 1, 28, 28)
    assert torch.allclose(augment(blank, g), blank, atol=1e-6)
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    out = augment(x, g)
    assert out.shape == x.shape and not torch.equal(out, x)


def test_evaluations_run_on_small_models():
    from teachkit.evaluation import evaluate
    from teachkit.models import MnistClassifier, SmallUNet

    torch.manual_seed(0)
    q = evaluate(SmallUNet(channels=(8, 16), emb_dim=32, num_classes=10), schedule=linear_schedule(),
                 classifier=MnistClassifier(), n=20, steps=2, scale=3.0)
    assert q["n"] == 20 and 0 <= q["accuracy"] <= 1 and sum(q["predicted_counts"]) == 20
    q = evaluate("toy-2d-cfg", n=300, steps=10, scale=3.0)
    # the shipped toy model follows its labels and beats pure noise by far
    assert q["adherence"] > 0.95
    assert evaluate("toy-2d-cfg", n=300, steps=10, scale=0.0)["sliced_w2"] < 0.5
