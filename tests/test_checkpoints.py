"""Checkpoints: bit-exact round trip, every shipped model loads, tampered or mismatched files are refused, the CLI."""
import json
import shutil

import pytest
import torch

from teachkit.checkpoints import (PRETRAINED, checkpoint_dir, load_checkpoint, load_pretrained, save_checkpoint,
                                  schedule_from_spec, schedule_spec, seal_record)
from teachkit.models import MnistClassifier, SmallUNet, ToyMLP
from teachkit.schedules import NoiseSchedule

torch.set_num_threads(1)


@pytest.mark.parametrize("make", [lambda: ToyMLP(num_classes=4), lambda: SmallUNet(channels=(8, 16), emb_dim=32),
                                  lambda: MnistClassifier()])
def test_round_trip_is_bit_exact(tmp_path, make):
    torch.manual_seed(0)
    model = make()
    spec = schedule_spec("cosine", T=200)
    save_checkpoint(tmp_path / "m", model, spec, {"note": "test"})
    loaded, schedule, info = load_checkpoint(tmp_path / "m")
    assert type(loaded) is type(model) and info["note"] == "test" and not loaded.training
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    assert torch.equal(schedule.betas, schedule_from_spec(spec).betas) and schedule.T == 200


def test_fp16_storage(tmp_path):
    torch.manual_seed(0)
    model = ToyMLP(num_classes=2)
    save_checkpoint(tmp_path / "h", model, None, dtype=torch.float16)
    loaded = load_checkpoint(tmp_path / "h")[0]
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert b.dtype == torch.float32 and torch.equal(a.half().float(), b)


@pytest.mark.parametrize("name", PRETRAINED)
def test_load_pretrained(name):
    if name.endswith(("-distilled", "-flow")) and not (checkpoint_dir() / f"{name}.json").exists():
        pytest.skip(f"{name} is not shipped yet (python -m teachkit train {name})")
    model, schedule, info = load_pretrained(name)
    # a distilled student is the teacher's network class with its output read as v; a flow model predicts a velocity
    want = "v" if name.endswith("-distilled") else "velocity" if name.endswith("-flow") else "eps"
    assert getattr(model, "prediction", "eps") == want
    assert info["name"] == name and info["command"].startswith(f"python -m teachkit train {name}")
    for key in ("seed", "hyperparameters", "wall_time_s", "machine", "teachkit_version", "weights_sha256", "quality"):
        assert key in info, key
    if name == "mnist-classifier":
        from teachkit.evaluation import quality_rows

        assert schedule is None and quality_rows(info)[0]["held_out_accuracy"] >= 0.97
        assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    elif name.endswith("-flow"):
        # its schedule is the flow path; the network takes continuous t in [0, 1]
        from teachkit.flow import FlowPath

        assert isinstance(schedule, FlowPath) and model.time_scale == 1000.0
        x = torch.randn(2, *model.sample_shape)
        assert model(x, torch.tensor([1.0, 0.0]), torch.tensor([0, 1])).shape == x.shape
    else:
        assert isinstance(schedule, NoiseSchedule) and schedule.T == 1000
        assert model.num_classes is not None and model.null_label == model.num_classes
        x = torch.randn(2, *model.sample_shape)
        assert model(x, torch.tensor([999, 0]), torch.tensor([0, 1])).shape == x.shape


def test_unknown_name():
    with pytest.raises(ValueError, match="mnist-cfg"):
        load_pretrained("mnist-gan")
    with pytest.raises(TypeError):
        load_pretrained(3)


def test_tampered_or_mismatched_files_are_refused(tmp_path):
    src = checkpoint_dir() / "toy-2d-cfg"
    for ext in (".safetensors", ".json"):
        shutil.copy(str(src) + ext, tmp_path / f"t{ext}")
    load_checkpoint(tmp_path / "t")
    weights = tmp_path / "t.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-3] ^= 0x01
    weights.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="sha256"):
        load_checkpoint(tmp_path / "t")
    shutil.copy(str(src) + ".safetensors", weights)
    record = json.loads((tmp_path / "t.json").read_text())
    record["config"]["hidden"] = 64
    (tmp_path / "t.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="record_sha256"):
        load_checkpoint(tmp_path / "t")
    # resealed on purpose, the config still has to fit the weights
    record["record_sha256"] = seal_record(record)
    (tmp_path / "t.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="does not fit ToyMLP"):
        load_checkpoint(tmp_path / "t")
    record["model_class"] = "Pickle"
    record["record_sha256"] = seal_record(record)
    (tmp_path / "t.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="unknown model_class"):
        load_checkpoint(tmp_path / "t")
    (tmp_path / "t.json").unlink()
    with pytest.raises(FileNotFoundError, match="missing"):
        load_checkpoint(tmp_path / "t")


def test_schedule_spec_errors():
    with pytest.raises(ValueError, match="unknown schedule"):
        schedule_spec("sigmoid")
    with pytest.raises(ValueError, match="bad schedule record"):
        schedule_from_spec({"name": "nope"})


def test_cli_train_writes_a_loadable_checkpoint(tmp_path):
    from teachkit.__main__ import main

    assert main(["train", "toy-2d-cfg", "--steps", "30", "--out", str(tmp_path), "--run-dir", str(tmp_path / "runs"),
                 "--no-eval", "--quiet", "--threads", "1"]) == 0
    model, schedule, info = load_checkpoint(tmp_path / "toy-2d-cfg")
    assert info["hyperparameters"]["steps"] == 30 and info["command"].endswith("--threads 1")
    assert (tmp_path / "runs" / "toy-2d-cfg" / "last.safetensors").exists()
    with pytest.raises(SystemExit):
        main(["train", "mnist-gan"])
    with pytest.raises(SystemExit):
        main(["evaluate", "toy-2d-cfg", "--out", str(tmp_path / "nowhere")])
