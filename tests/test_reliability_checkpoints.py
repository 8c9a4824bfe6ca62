"""Issue 16, items 4, 5 and 7 (checkpoint side), each reproduced first: the JSON's meaning is checked, not only the
weights; a kill at any moment leaves a loadable old or new checkpoint; concurrent writers never share a temp file."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from teachkit.checkpoints import (PRETRAINED, checkpoint_dir, load_checkpoint, load_pretrained, save_checkpoint,
                                  schedule_spec, seal_record)
from teachkit.models import ToyMLP

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parent.parent


def _copy_shipped(tmp_path: Path, name: str) -> Path:
    for ext in (".safetensors", ".json"):
        shutil.copy(checkpoint_dir() / f"{name}{ext}", tmp_path / f"{name}{ext}")
    return tmp_path / name


def _edit(stem: Path, change) -> None:
    path = stem.with_name(stem.name + ".json")
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record, indent=2))


# --- item 4: only the weights are hashed -------------------------------------------------------------------------

@pytest.mark.parametrize("name, change, words", [
    ("toy-2d-cfg", lambda r: r["schedule"].update(name="cosine"), "record_sha256"),
    ("toy-2d-cfg", lambda r: r["schedule"].update(T=50), "record_sha256"),
    ("toy-2d-cfg", lambda r: r.update(prediction="v"), "record_sha256"),
    ("toy-2d-distilled", lambda r: r.pop("prediction"), "record_sha256"),
    ("toy-2d-distilled", lambda r: r.update(guidance_scale=3.0), "record_sha256"),
    ("toy-2d-cfg", lambda r: r.update(name="toy-2d-distilled"), "record_sha256"),
    ("toy-2d-cfg", lambda r: r.pop("record_sha256"), "record_sha256"),
])
def test_any_edit_of_the_record_is_refused(tmp_path, name, change, words):
    stem = _copy_shipped(tmp_path, name)
    load_checkpoint(stem)
    _edit(stem, change)
    with pytest.raises(ValueError, match=words):
        load_checkpoint(stem)


def test_a_deliberate_edit_is_resealed_after_its_checks(tmp_path):
    from teachkit.checkpoints import reseal_checkpoint

    stem = _copy_shipped(tmp_path, "toy-2d-cfg")
    _edit(stem, lambda r: r.update(data="a note about the data"))
    with pytest.raises(ValueError, match="reseal_checkpoint"):
        load_checkpoint(stem)
    reseal_checkpoint(stem)
    assert load_checkpoint(stem)[2]["data"] == "a note about the data"
    before = (tmp_path / "toy-2d-cfg.json").read_text()
    _edit(stem, lambda r: r["config"].update(hidden=64))
    edited = (tmp_path / "toy-2d-cfg.json").read_text()
    with pytest.raises(ValueError, match="does not fit ToyMLP"):
        reseal_checkpoint(stem)
    assert (tmp_path / "toy-2d-cfg.json").read_text() == edited != before  # nothing written


def test_quality_may_be_re_measured_without_resealing(tmp_path):
    stem = _copy_shipped(tmp_path, "toy-2d-cfg")
    _edit(stem, lambda r: r["quality"].update(evaluation_seconds=1.0))
    assert load_checkpoint(stem)[2]["quality"]["evaluation_seconds"] == 1.0


@pytest.mark.parametrize("change, words", [
    (lambda r: r.update(prediction="x0"), "prediction 'x0'"),
    (lambda r: r.update(consistency="yes"), "consistency"),
    (lambda r: r["schedule"].update(name="sigmoid"), "schedule"),
    (lambda r: r["schedule"].update(T=10**9), "T"),
    (lambda r: r["schedule"].update(T=0), "T"),
    (lambda r: r["schedule"].update(T="1000"), "T"),
    (lambda r: r["schedule"].update(params={"beta_end": 2.0}), "beta"),
    (lambda r: r["schedule"].update(params={"gamma": 2.0}), "gamma"),
    (lambda r: r.update(config=[1, 2]), "config"),
])
def test_every_field_is_validated_even_when_resealed(tmp_path, change, words):
    # a record edited *and* resealed (a deliberate change) still has to make sense
    stem = _copy_shipped(tmp_path, "toy-2d-cfg")
    _edit(stem, lambda r: (change(r), r.update(record_sha256=seal_record(r))))
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=words):
        load_checkpoint(stem)
    assert time.perf_counter() - t0 < 5  # T = 10**9 is refused before 8 GB are allocated


def test_a_student_under_the_teachers_name_is_refused(tmp_path, monkeypatch):
    data = tmp_path / "data" / "checkpoints"
    data.mkdir(parents=True)
    for ext in (".safetensors", ".json"):
        shutil.copy(checkpoint_dir() / f"toy-2d-distilled{ext}", data / f"toy-2d-cfg{ext}")
    monkeypatch.setenv("TEACHKIT_DATA", str(tmp_path / "data"))
    with pytest.raises(ValueError, match="toy-2d-distilled"):
        load_pretrained("toy-2d-cfg")
    # even resealed under the teacher's name, a student (prediction v) is not what the name promises
    _edit(data / "toy-2d-cfg", lambda r: (r.update(name="toy-2d-cfg"), r.update(record_sha256=seal_record(r))))
    with pytest.raises(ValueError, match="prediction"):
        load_pretrained("toy-2d-cfg")


@pytest.mark.parametrize("name", PRETRAINED)
def test_shipped_records_are_sealed(name):
    if not (checkpoint_dir() / f"{name}.json").exists():
        pytest.skip(f"{name} is not shipped")
    record = json.loads((checkpoint_dir() / f"{name}.json").read_text())
    assert record["record_sha256"] == seal_record(record)
    assert load_pretrained(name)[2]["name"] == name


def test_saved_records_name_their_prediction(tmp_path):
    model = ToyMLP(num_classes=2, hidden=8)
    save_checkpoint(tmp_path / "m", model, schedule_spec("linear", T=100))
    info = json.loads((tmp_path / "m.json").read_text())
    assert info["prediction"] == "eps" and info["record_sha256"] == seal_record(info)
    save_checkpoint(tmp_path / "s", ToyMLP(num_classes=2, hidden=8, prediction="v"), schedule_spec("linear", T=100))
    assert load_checkpoint(tmp_path / "s")[0].prediction == "v"
    model.prediction = "v"  # patched on, not built: the checkpoint would rebuild an eps-model
    with pytest.raises(ValueError, match="constructor"):
        save_checkpoint(tmp_path / "bad", model, None)
    model.prediction = "x0"
    with pytest.raises(ValueError, match="prediction"):
        save_checkpoint(tmp_path / "bad", model, None)
    assert not (tmp_path / "bad.json").exists() and not (tmp_path / "bad.safetensors").exists()
    with pytest.raises(ValueError, match="schedule"):
        save_checkpoint(tmp_path / "bad", ToyMLP(), {"name": "linear", "T": -1, "params": {}})


# --- item 5: writes are not atomic --------------------------------------------------------------------------------

def _two_versions(tmp_path):
    torch.manual_seed(0)
    old, new = ToyMLP(num_classes=2, hidden=8), ToyMLP(num_classes=2, hidden=8)
    save_checkpoint(tmp_path / "m", old, schedule_spec("linear", T=100), {"version": "old"})
    return old, new


@pytest.mark.parametrize("crash_at", [0, 1, 2, 3])
def test_a_crash_at_any_rename_leaves_the_old_or_the_new_checkpoint(tmp_path, monkeypatch, crash_at):
    import teachkit.atomic as atomic

    old, new = _two_versions(tmp_path)
    real, calls = os.replace, []

    def crashing_replace(src, dst):
        if len(calls) == crash_at:
            raise KeyboardInterrupt  # the process dies here
        calls.append(dst)
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", crashing_replace)
    import teachkit.checkpoints as ckpt
    monkeypatch.setattr(ckpt.os, "replace", crashing_replace)
    try:
        save_checkpoint(tmp_path / "m", new, schedule_spec("linear", T=100), {"version": "new"})
    except KeyboardInterrupt:
        pass
    monkeypatch.undo()
    model, _, info = load_checkpoint(tmp_path / "m")
    expected = new if info["version"] == "new" else old
    for a, b in zip(model.state_dict().values(), expected.state_dict().values()):
        assert torch.equal(a, b)
    assert info["version"] == ("new" if crash_at >= 2 else "old")
    assert not list(tmp_path.glob(".*.tmp"))


_SAVER = """
import sys, torch
from teachkit.checkpoints import save_checkpoint, schedule_spec
from teachkit.models import ToyMLP
torch.set_num_threads(1)
i = 0
print("go", flush=True)
while True:
    torch.manual_seed(i)
    save_checkpoint(sys.argv[1], ToyMLP(num_classes=2, hidden=int(sys.argv[2])), schedule_spec("linear", T=100), {"i": i})
    i += 1
"""


def _saver(stem: Path, hidden: int = 64) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(stem), str(hidden)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert proc.stdout.readline().strip() == "go"
    return proc


def test_sigkill_during_saves_always_leaves_a_loadable_checkpoint(tmp_path):
    stem = tmp_path / "m"
    save_checkpoint(stem, ToyMLP(num_classes=2, hidden=64), schedule_spec("linear", T=100), {"i": -1})
    seen = set()
    for k in range(12):
        proc = _saver(stem)
        time.sleep(0.05 + 0.037 * k)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        seen.add(load_checkpoint(stem)[2]["i"])
    assert len(seen) > 1  # the kills landed at different saves


def test_concurrent_writers_never_break_the_pair(tmp_path):
    stem = tmp_path / "m"
    writers = [_saver(stem, hidden=h) for h in (16, 32)]
    try:
        for _ in range(30):
            time.sleep(0.05)
            model, _, info = load_checkpoint(stem)  # readers see a matching pair at every moment
            assert model.config["hidden"] in (16, 32)
    finally:
        for w in writers:
            w.kill()
            w.wait()
    load_checkpoint(stem)


# --- item 7: load_pretrained(device="cuda") on a CPU build -----------------------------------------------------

@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_load_pretrained_on_a_missing_device_is_one_clear_error():
    with pytest.raises(ValueError, match="CUDA"):
        load_pretrained("toy-2d-cfg", device="cuda")
    with pytest.raises(ValueError, match="device"):
        load_pretrained("toy-2d-cfg", device="gpu")
