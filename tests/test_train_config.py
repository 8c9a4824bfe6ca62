"""Issue 18 (training): one TrainConfig validated once and stored whole in the checkpoint JSON, one loop (fit) for
every objective the classifier included, recipes as named configs, no reseeding of the caller's global RNG."""
import dataclasses
import json
import math
import random

import numpy as np
import pytest
import torch

from teachkit.checkpoints import PRETRAINED, load_checkpoint
from teachkit.training.classifier import classifier_loss, train_classifier
from teachkit.datasets import toy
from teachkit.training.distill import distill
from teachkit.flow import FlowPath
from teachkit.training.flow_matching import train_flow
from teachkit.labels import check_labels
from teachkit.models import MnistClassifier, ToyMLP
from teachkit.training.recipes import RECIPES, Recipe, build
from teachkit.schedules import linear_schedule
from teachkit.training.config import OBJECTIVES, TrainConfig, default_config
from teachkit.training import fit, train

torch.set_num_threads(1)


@pytest.mark.parametrize("settings, exc, words", [
    (dict(steps=0), ValueError, "steps=0: training needs a positive integer"),
    (dict(steps=2.0), ValueError, "positive integer"),
    (dict(batch_size=0), ValueError, "batch_size=0 must be >= 1"),
    (dict(batch_size=2.5), TypeError, "batch_size must be an integer"),
    (dict(batch_size=True), TypeError, "batch_size"),
    (dict(lr=0), ValueError, "the learning rate must be positive"),
    (dict(lr=math.nan), ValueError, "lr=nan"),
    (dict(weight_decay=-1.0), ValueError, "weight_decay"),
    (dict(ema_decay=1.0), ValueError, "the EMA keeps this share"),
    (dict(warmup=-1), ValueError, "warmup=-1 must be >= 0"),
    (dict(lr_decay="linear"), ValueError, "choose 'cosine' or 'constant'"),
    (dict(lr_final=2.0), ValueError, "lr_final"),
    (dict(grad_clip=0.0), ValueError, "None turns clipping off"),
    (dict(p_uncond=1.0), ValueError, "the probability of dropping a label"),
    (dict(seed=1.5), TypeError, "seed must be an integer"),
    (dict(device=0), TypeError, "device"),
    (dict(threads=0), ValueError, "threads=0"),
    (dict(checkpoint_every=0), ValueError, "checkpoint_every"),
    (dict(guidance_scale=math.inf), TypeError, "guidance_scale must be a finite real number"),
    (dict(intervals=0), ValueError, "intervals=0: the ODE grid"),
    (dict(target_decay=1.0), ValueError, "EMA rate mu of CM Eq. (8)"),
    (dict(objective="gan"), ValueError, "choose one of 'ddpm'"),
])
def test_every_field_is_checked_once_with_a_teaching_message(settings, exc, words):
    with pytest.raises(exc, match=None) as info:
        TrainConfig(**settings)
    assert words in str(info.value)
    # a changed copy is checked again
    with pytest.raises(exc):
        dataclasses.replace(TrainConfig(), **settings)


def test_config_is_frozen_and_normalized():
    c = TrainConfig(lr=1, device=torch.device("cpu"))
    assert c.lr == 1.0 and isinstance(c.lr, float) and c.device == "cpu"
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.lr = 2.0
    assert default_config("consistency distillation").lr == 1e-4
    with pytest.raises(TypeError, match="unknown training setting"):
        default_config("ddpm", stepz=3)


def test_keywords_and_config_are_one_run():
    x, y = toy("moons", 128, seed=0)
    kw = dict(steps=5, batch_size=32, lr=2e-3, warmup=1, progress=False)
    torch.manual_seed(0)
    a = train(ToyMLP(num_classes=2, hidden=16), linear_schedule(T=50), x, y, **kw)
    torch.manual_seed(0)
    b = train(ToyMLP(num_classes=2, hidden=16), linear_schedule(T=50), x, y, progress=False,
              config=TrainConfig(steps=5, batch_size=32, lr=2e-3, warmup=1))
    assert a.losses == b.losses
    with pytest.raises(ValueError, match="trains 'ddpm'"):
        train(ToyMLP(num_classes=2, hidden=16), linear_schedule(T=50), x, y, config=default_config("flow matching"))


def test_round_trip_through_a_checkpoint_json(tmp_path):
    from teachkit.__main__ import main

    assert main(["train", "toy-2d-cfg", "--steps", "3", "--batch-size", "16", "--seed", "4", "--threads", "1",
                 "--out", str(tmp_path / "o"), "--run-dir", str(tmp_path / "r"), "--no-eval", "--quiet"]) == 0
    _, _, info = load_checkpoint(tmp_path / "o" / "toy-2d-cfg")
    config = TrainConfig.from_dict(info["train_config"])
    assert config == dataclasses.replace(RECIPES["toy-2d-cfg"].config, steps=3, batch_size=16, seed=4, threads=1,
                                         device="cpu")
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert info["hyperparameters"]["steps"] == 3 and info["seed"] == 4
    # a record whose train_config no TrainConfig accepts is refused, even when resealed on purpose
    from teachkit.checkpoints import reseal_checkpoint

    path = tmp_path / "o" / "toy-2d-cfg.json"
    record = json.loads(path.read_text())
    record["train_config"]["lr"] = -1.0
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="train_config is not a valid TrainConfig.*learning rate"):
        reseal_checkpoint(tmp_path / "o" / "toy-2d-cfg")
    with pytest.raises(ValueError, match="unknown train_config fields"):
        TrainConfig.from_dict({"stepz": 3})


def _global_state():
    return torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy()


def _same(a, b) -> bool:
    return torch.equal(a[0], b[0]) and a[1] == b[1] and np.array_equal(a[2], b[2])


def test_training_and_building_leave_the_global_rng_untouched():
    torch.manual_seed(123)
    random.seed(5)
    np.random.seed(6)
    x, y = toy("moons", 64, seed=0)
    # the models are built first: building one draws from the global generator, as torch does
    eps, teacher = ToyMLP(num_classes=2, hidden=16), ToyMLP(num_classes=2, hidden=16)
    flow = ToyMLP(num_classes=2, hidden=16, prediction="velocity", time_scale=1000.0)
    before = _global_state()
    train(eps, linear_schedule(T=50), x, y, steps=3, batch_size=16, progress=False)
    train_flow(flow, FlowPath(), x, y, steps=3, batch_size=16, progress=False)
    # distill builds its student from the teacher: that draw, too, stays inside the call
    distill(teacher, linear_schedule(T=50), x, y, steps=3, batch_size=16, intervals=4, progress=False)
    m1, _, _ = build("toy-2d-cfg", seed=3)
    assert _same(before, _global_state())
    m2, _, _ = build("toy-2d-cfg", seed=3)
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    assert _same(before, _global_state())


def test_the_classifier_trains_through_fit_with_dropout_seeded():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 28, 28, generator=g) * 2 - 1
    y = torch.arange(64) % 10
    nets = [MnistClassifier(), MnistClassifier()]
    nets[1].load_state_dict(nets[0].state_dict())
    before = torch.get_rng_state()
    runs = [train_classifier(net, x, y, steps=4, batch_size=16, progress=False) for net in nets]
    assert torch.equal(before, torch.get_rng_state())
    # dropout (p = 0.3) draws from the global generator, seeded inside fit: two runs give the same losses
    assert runs[0].losses == runs[1].losses and len(runs[0].losses) == 4
    # ema_decay 0: the EMA copy equals the trained model
    assert all(torch.equal(a, b) for a, b in zip(runs[0].ema_model.parameters(), runs[0].model.parameters()))
    # the loss is a plain loss_fn on the one loop
    model = MnistClassifier()
    ema = MnistClassifier().requires_grad_(False)
    out = fit(model, ema, classifier_loss(model, torch.Generator().manual_seed(0)), x, y,
              default_config("classification", steps=2, batch_size=8), progress=False)
    assert len(out.losses) == 2 and all(math.isfinite(v) for v in out.losses)
    with pytest.raises(ValueError, match="labels must lie in 0 .. 9"):
        train_classifier(MnistClassifier(), x, y + 1, steps=1, progress=False)


def test_pretrained_is_the_recipe_registry():
    assert PRETRAINED == tuple(RECIPES)
    assert all(isinstance(r, Recipe) and r.name == name for name, r in RECIPES.items())
    assert {r.config.objective for r in RECIPES.values()} == set(OBJECTIVES)
    # the old dict access still works (lesson 03's opt-in cell: train(..., **recipe["train"]))
    assert RECIPES["mnist-cfg"]["train"] == {"config": RECIPES["mnist-cfg"].config}
    assert RECIPES["mnist-cfg"]["kind"] == "eps"


def test_one_label_check_for_sampling_models_and_training():
    assert check_labels(1, 3, 4).tolist() == [1, 1, 1, 1]
    assert check_labels(torch.tensor([0, 3]), 3, 2).dtype == torch.long  # the null label 3 samples unconditionally
    with pytest.raises(ValueError, match=r"labels must lie in 0 \.\. 2, got range \[0, 3\]"):
        check_labels(torch.tensor([0, 3]), 3, 2, null_ok=False)  # training data holds real classes
    with pytest.raises(ValueError, match="unconditional"):
        check_labels(0, None, 2)
    with pytest.raises(TypeError, match="integer class labels"):
        check_labels(torch.zeros(2), 3, 2)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        check_labels(torch.zeros(3, dtype=torch.long), 3, 2)


def test_train_help_prints_the_defaults(capsys):
    from teachkit.__main__ import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "TrainConfig defaults" in out and "toy-2d-cfg (ddpm): steps=3000" in out and "ema_decay=0.999" in out


def test_a_bad_flag_names_itself(tmp_path, capsys):
    from teachkit.__main__ import main

    with pytest.raises(SystemExit):
        main(["train", "toy-2d-cfg", "--threads", "0", "--out", str(tmp_path), "--no-eval"])
    assert "--threads 0: threads=0 must be >= 1" in capsys.readouterr().err


def test_a_dropout_model_resumes_bit_identically(tmp_path, monkeypatch):
    # the classifier's dropout draws from the global generator: the train state carries it across a resume
    g = torch.Generator().manual_seed(1)
    x = torch.rand(48, 1, 28, 28, generator=g) * 2 - 1
    y = torch.arange(48) % 10
    init = MnistClassifier().state_dict()

    def fresh():
        net = MnistClassifier()
        net.load_state_dict(init)
        return net

    kw = dict(steps=6, batch_size=16, checkpoint_every=3, progress=False)
    straight = train_classifier(fresh(), x, y, checkpoint_dir=tmp_path / "a", **kw)
    import teachkit.training.loop as training

    class Stop(Exception):
        pass

    real = training._save_state

    def stop_after_first(path, step, *args):
        real(path, step, *args)
        raise Stop

    # the run is stopped right after its state at step 3 is written, then resumed
    monkeypatch.setattr(training, "_save_state", stop_after_first)
    with pytest.raises(Stop):
        train_classifier(fresh(), x, y, checkpoint_dir=tmp_path / "c", **kw)
    monkeypatch.setattr(training, "_save_state", real)
    resumed = train_classifier(fresh(), x, y, checkpoint_dir=tmp_path / "c", resume=True, **kw)
    assert resumed.losses == straight.losses
    assert all(torch.equal(a, b) for a, b in zip(resumed.model.state_dict().values(), straight.model.state_dict().values()))
