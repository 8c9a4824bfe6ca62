"""Issue 16, items 1-3, 5, 7 and 8 (training side), each reproduced first: `train` never clobbers a shipped model,
reproduces from --seed, refuses bad inputs before writing anything, keeps its state consistent, refuses a second
run on one output. Tiny models, a few steps each."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from teachkit.__main__ import main
from teachkit.checkpoints import checkpoint_dir, load_checkpoint
from teachkit.datasets import sha256_file, toy
from teachkit.models import ToyMLP
from teachkit.schedules import linear_schedule
from teachkit.training import train

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parent.parent


def _train(*args: str) -> int:
    return main(["train", "toy-2d-cfg", "--no-eval", "--quiet", "--threads", "1", *args])


def _exit_message(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as info:
        _train(*args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# --- item 1: `train` overwrites the shipped checkpoint by default ---------------------------------------------

def test_train_writes_to_runs_by_default_not_the_shipped_checkpoint(tmp_path, monkeypatch):
    shipped = {p.name: sha256_file(p) for p in checkpoint_dir().glob("toy-2d-cfg.*")}
    monkeypatch.chdir(tmp_path)
    assert _train("--steps", "3") == 0
    assert {p.name: sha256_file(p) for p in checkpoint_dir().glob("toy-2d-cfg.*")} == shipped
    model, _, info = load_checkpoint(tmp_path / "runs" / "toy-2d-cfg")
    assert info["hyperparameters"]["steps"] == 3


def test_out_pointing_at_the_shipped_directory_needs_the_flag(tmp_path, monkeypatch, capsys):
    shipped = sha256_file(checkpoint_dir() / "toy-2d-cfg.safetensors")
    err = _exit_message(capsys, "--steps", "3", "--out", str(checkpoint_dir()), "--run-dir", str(tmp_path))
    assert "--replace-shipped" in err and "shipped" in err
    assert sha256_file(checkpoint_dir() / "toy-2d-cfg.safetensors") == shipped


def test_replace_shipped_replaces_and_says_what(tmp_path, monkeypatch, capsys):
    # a copy of the shipped directory stands in for data/ (TEACHKIT_DATA), so the real files stay untouched
    data = tmp_path / "data" / "checkpoints"
    data.mkdir(parents=True)
    for p in checkpoint_dir().glob("toy-2d-cfg.*"):
        (data / p.name).write_bytes(p.read_bytes())
    old = json.loads((data / "toy-2d-cfg.json").read_text())
    monkeypatch.setenv("TEACHKIT_DATA", str(tmp_path / "data"))
    assert _train("--steps", "3", "--replace-shipped", "--run-dir", str(tmp_path / "runs")) == 0
    out = capsys.readouterr().out
    assert "replaced the shipped" in out and old["weights_sha256"][:12] in out
    assert load_checkpoint(data / "toy-2d-cfg")[2]["hyperparameters"]["steps"] == 3
    assert not list(data.glob("*.lock")) and not list(data.glob(".*.tmp"))


def test_help_says_where_train_writes(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--replace-shipped" in text and "runs" in text and "never overwrites" in text


# --- item 2: `train` is not reproducible from --seed -------------------------------------------------------------

def test_same_command_and_seed_give_bit_identical_weights(tmp_path):
    # in one process the global RNG differs between the two calls: only seeding before the build makes them equal
    torch.manual_seed(123)
    assert _train("--steps", "3", "--seed", "0", "--out", str(tmp_path / "a"), "--run-dir", str(tmp_path / "ra")) == 0
    torch.rand(7)
    assert _train("--steps", "3", "--seed", "0", "--out", str(tmp_path / "b"), "--run-dir", str(tmp_path / "rb")) == 0
    a, b = (json.loads((tmp_path / d / "toy-2d-cfg.json").read_text()) for d in "ab")
    assert a["weights_sha256"] == b["weights_sha256"] and a["final_loss"] == b["final_loss"]
    assert _train("--steps", "3", "--seed", "1", "--out", str(tmp_path / "c"), "--run-dir", str(tmp_path / "rc")) == 0
    assert json.loads((tmp_path / "c" / "toy-2d-cfg.json").read_text())["weights_sha256"] != a["weights_sha256"]


def test_interrupted_and_resumed_cli_run_is_bit_identical(tmp_path, monkeypatch):
    import teachkit.training.loop as training

    assert _train("--steps", "6", "--checkpoint-every", "2", "--out", str(tmp_path / "a"),
                  "--run-dir", str(tmp_path / "ra")) == 0

    class Kill(Exception):
        pass

    real = training._save_state
    calls = []

    def dying_save(*a, **k):
        real(*a, **k)
        calls.append(1)
        if len(calls) == 2:  # killed right after the step-4 state was written
            raise Kill

    monkeypatch.setattr(training, "_save_state", dying_save)
    with pytest.raises(Kill):
        _train("--steps", "6", "--checkpoint-every", "2", "--out", str(tmp_path / "b"), "--run-dir", str(tmp_path / "rb"))
    monkeypatch.setattr(training, "_save_state", real)
    assert not (tmp_path / "b" / "toy-2d-cfg.json").exists()
    assert _train("--steps", "6", "--checkpoint-every", "2", "--resume", "--out", str(tmp_path / "b"),
                  "--run-dir", str(tmp_path / "rb")) == 0
    a, b = (json.loads((tmp_path / d / "toy-2d-cfg.json").read_text()) for d in "ab")
    assert a["weights_sha256"] == b["weights_sha256"] and a["final_loss"] == b["final_loss"]


# --- item 3: a bad batch size trains on nothing and still writes a checkpoint; NaN data trains silently ----------

@pytest.mark.parametrize("flags, words", [
    (("--batch-size", "0"), "--batch-size"), (("--batch-size", "-1"), "--batch-size"),
    (("--steps", "0"), "--steps"), (("--threads", "-1"), "--threads"), (("--threads", "0"), "--threads"),
    (("--device", "gpu"), "device"), (("--checkpoint-every", "0"), "--checkpoint-every"),
])
def test_bad_cli_values_exit_2_and_write_nothing(tmp_path, capsys, flags, words):
    err = _exit_message(capsys, *flags, "--steps", "2", "--out", str(tmp_path / "o"), "--run-dir", str(tmp_path / "r")) \
        if "--steps" not in flags else _exit_message(capsys, *flags, "--out", str(tmp_path / "o"),
                                                     "--run-dir", str(tmp_path / "r"))
    assert words in err and len(err.strip().splitlines()) <= 3
    assert not (tmp_path / "o" / "toy-2d-cfg.json").exists() and not (tmp_path / "r" / "toy-2d-cfg").exists()


@pytest.mark.parametrize("kwargs, exc, words", [
    (dict(batch_size=0), ValueError, "batch_size"), (dict(batch_size=-1), ValueError, "batch_size"),
    (dict(batch_size=2.5), TypeError, "batch_size"), (dict(batch_size=True), TypeError, "batch_size"),
    (dict(lr=0.0), ValueError, "lr"), (dict(lr=float("nan")), ValueError, "lr"),
    (dict(ema_decay=1.0), ValueError, "ema_decay"), (dict(warmup=-1), ValueError, "warmup"),
    (dict(grad_clip=0.0), ValueError, "grad_clip"), (dict(weight_decay=-1.0), ValueError, "weight_decay"),
    (dict(checkpoint_every=0), ValueError, "checkpoint_every"), (dict(callback_every=0), ValueError, "callback_every"),
    (dict(seed=1.5), TypeError, "seed"), (dict(callback=3), TypeError, "callback"),
])
def test_bad_training_arguments_raise_before_any_step(tmp_path, kwargs, exc, words):
    x, y = toy("moons", 64, seed=0)
    with pytest.raises(exc, match=words):
        train(ToyMLP(num_classes=2, hidden=16), linear_schedule(T=50), x, y, steps=2, progress=False,
              checkpoint_dir=tmp_path / "s", **kwargs)
    assert not (tmp_path / "s").exists()


def test_nan_or_empty_data_is_refused():
    x, y = toy("moons", 64, seed=0)
    model, s = ToyMLP(num_classes=2, hidden=16), linear_schedule(T=50)
    bad = x.clone()
    bad[5, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf.*row 5"):
        train(model, s, bad, y, steps=2, progress=False)
    bad[5, 1] = float("inf")
    with pytest.raises(ValueError, match="NaN or inf"):
        train(model, s, bad, y, steps=2, progress=False)
    with pytest.raises(ValueError, match="no training examples"):
        train(model, s, x[:0], y[:0], steps=2, progress=False)
    with pytest.raises(TypeError, match="NoiseSchedule"):
        train(model, s.betas, x, y, steps=2, progress=False)
    with pytest.raises(TypeError, match="torch.Tensor"):
        train(model, s, x.numpy(), y, steps=2, progress=False)


def test_a_diverging_loss_stops_training_with_a_teaching_error(tmp_path):
    x, y = toy("moons", 256, seed=0)
    with pytest.raises(FloatingPointError, match="lr"):
        train(ToyMLP(num_classes=2, hidden=16), linear_schedule(T=50), x * 1e30, y, steps=60, lr=1e10, warmup=1,
              grad_clip=None, progress=False, checkpoint_dir=tmp_path / "s", checkpoint_every=1000)


# --- item 5: training state (last.safetensors + last.json) is not consistent, two runs share one temp file ----

def _state_run(tmp_path, **kw):
    torch.manual_seed(0)
    x, y = toy("moons", 200, seed=0)
    args = dict(steps=6, batch_size=32, progress=False, checkpoint_dir=tmp_path / "s", checkpoint_every=2)
    args.update(kw)
    return train(ToyMLP(num_classes=2, hidden=16), linear_schedule(T=50), x, y, **args)


class _Interrupt(Exception):
    pass


def _stop_at_5(step, losses, model):
    if step == 5:
        raise _Interrupt


def test_resume_trusts_the_state_file_not_a_stale_summary(tmp_path):
    straight = _state_run(tmp_path / "a")
    # killed at step 5: the step-4 state was written; a kill between it and the summary leaves last.json at step 2
    with pytest.raises(_Interrupt):
        _state_run(tmp_path / "b", callback=_stop_at_5, callback_every=5)
    summary = tmp_path / "b" / "s" / "last.json"
    assert json.loads(summary.read_text())["step"] == 4
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "step": 2}))
    resumed = _state_run(tmp_path / "b", resume=True)
    assert resumed.losses == straight.losses
    for a, b in zip(straight.ema_model.state_dict().values(), resumed.ema_model.state_dict().values()):
        assert torch.equal(a, b)


def test_resume_refuses_a_state_whose_parts_disagree(tmp_path):
    from safetensors.torch import load_file, save_file

    _state_run(tmp_path, steps=4)
    path = tmp_path / "s" / "last.safetensors"
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    save_file(tensors, str(path), metadata={**meta, "step": "3"})
    with pytest.raises(ValueError, match="disagree"):
        _state_run(tmp_path, steps=4, resume=True)
    tensors["perm"] = tensors["perm"][:10]
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(ValueError, match="disagree"):
        _state_run(tmp_path, steps=4, resume=True)


def test_resume_refuses_a_state_of_another_run(tmp_path):
    _state_run(tmp_path, steps=4)
    with pytest.raises(ValueError, match="batch_size"):
        _state_run(tmp_path, steps=4, batch_size=16, resume=True)
    x, y = toy("moons", 100, seed=1)
    with pytest.raises(ValueError, match="data"):
        train(ToyMLP(num_classes=2, hidden=16), linear_schedule(T=50), x, y, steps=4, batch_size=32,
              progress=False, checkpoint_dir=tmp_path / "s", checkpoint_every=2, resume=True)
    with pytest.raises(ValueError, match="model"):
        train(ToyMLP(num_classes=2, hidden=8), linear_schedule(T=50), *toy("moons", 200, seed=0), steps=4,
              batch_size=32, progress=False, checkpoint_dir=tmp_path / "s", checkpoint_every=2, resume=True)


def test_truncated_state_is_a_clear_error(tmp_path, capsys):
    _state_run(tmp_path, steps=4)
    state = tmp_path / "s" / "last.safetensors"
    state.write_bytes(state.read_bytes()[:100])
    with pytest.raises(ValueError, match="truncated or damaged"):
        _state_run(tmp_path, steps=4, resume=True)
    run = tmp_path / "cli"
    assert _train("--steps", "2", "--out", str(run), "--run-dir", str(run)) == 0
    st = run / "toy-2d-cfg" / "last.safetensors"
    st.write_bytes(st.read_bytes()[:50])
    err = _exit_message(capsys, "--steps", "2", "--resume", "--out", str(run), "--run-dir", str(run))
    assert "truncated or damaged" in err


def test_losses_survive_a_resume_without_a_callback(tmp_path):
    # the state saved at step 2 must hold the first two losses even though nothing flushed them yet
    straight = _state_run(tmp_path / "a", steps=4)
    _state_run(tmp_path / "b", steps=4)
    resumed = _state_run(tmp_path / "b", steps=4, resume=True)
    assert resumed.losses == straight.losses and len(resumed.losses) == 4


_HOLD = """
import sys, time
from teachkit.atomic import file_lock
with file_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def _hold_lock(path: Path):
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(path)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_on_the_same_output_is_refused(tmp_path, capsys):
    holder = _hold_lock(tmp_path / "out" / "toy-2d-cfg")
    try:
        err = _exit_message(capsys, "--steps", "2", "--out", str(tmp_path / "out"), "--run-dir", str(tmp_path / "r"))
        assert "in use" in err and f"process {holder.pid}" in err
        assert not (tmp_path / "out" / "toy-2d-cfg.json").exists()
    finally:
        holder.kill()
        holder.wait()
    assert _train("--steps", "2", "--out", str(tmp_path / "out"), "--run-dir", str(tmp_path / "r")) == 0


def test_a_second_run_on_the_same_run_dir_is_refused(tmp_path):
    holder = _hold_lock(tmp_path / "s" / "last")
    try:
        with pytest.raises(ValueError, match="in use"):
            _state_run(tmp_path, steps=2)
    finally:
        holder.kill()
        holder.wait()


def test_two_concurrent_cli_runs_one_is_refused_and_a_killed_one_leaves_no_stale_lock(tmp_path):
    cmd = [sys.executable, "-m", "teachkit", "train", "toy-2d-cfg", "--no-eval", "--quiet", "--threads", "1",
           "--out", str(tmp_path / "o"), "--run-dir", str(tmp_path / "r")]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(cmd + ["--steps", "1000000"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (tmp_path / "o" / "toy-2d-cfg.lock").exists() and time.time() < deadline:
            time.sleep(0.05)
        second = subprocess.run(cmd + ["--steps", "2"], env=env, stderr=subprocess.PIPE, text=True)
        assert second.returncode == 2 and "in use" in second.stderr and "Traceback" not in second.stderr
        assert first.poll() is None  # the first run is still training, untouched
    finally:
        first.kill()  # SIGKILL: no cleanup runs, the lock file stays behind
        first.wait()
    assert (tmp_path / "o" / "toy-2d-cfg.lock").exists() and not (tmp_path / "o" / "toy-2d-cfg.json").exists()
    # a lock is held by a live process, not by a file: the next run takes it over
    assert subprocess.run(cmd + ["--steps", "2"], env=env).returncode == 0
    load_checkpoint(tmp_path / "o" / "toy-2d-cfg")


# --- item 8: an unwritable --out fails only after training -------------------------------------------------------

def test_unwritable_out_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    t0 = time.perf_counter()
    # 100,000 steps would take minutes: the error must come before the first one
    err = _exit_message(capsys, "--steps", "100000", "--out", str(blocker / "out"), "--run-dir", str(tmp_path / "r"))
    assert "--out" in err and "not a writable directory" in err and time.perf_counter() - t0 < 30
    err = _exit_message(capsys, "--steps", "100000", "--out", str(tmp_path / "o"), "--run-dir", str(blocker / "r"))
    assert "--run-dir" in err and "not a writable directory" in err


def test_train_then_evaluate_stores_the_quality_and_keeps_the_seal(tmp_path, monkeypatch):
    # without --no-eval, train hands over to evaluate --write (small evaluation here: 64 samples, 2 DDIM steps)
    from teachkit.evaluation import QUALITY

    monkeypatch.setitem(QUALITY, "toy-2d-cfg", [dict(sampler="DDIM", steps=2, scale=w, n=64) for w in (0.0, 3.0)])
    assert main(["train", "toy-2d-cfg", "--steps", "3", "--quiet", "--threads", "1", "--out", str(tmp_path),
                 "--run-dir", str(tmp_path)]) == 0
    info = load_checkpoint(tmp_path / "toy-2d-cfg")[2]
    rows = info["quality"]["rows"]
    assert [(r["n"], r["steps"], r["guidance_scale"]) for r in rows] == [(64, 2, 0.0), (64, 2, 3.0)]


def test_a_student_distills_the_shipped_teacher_unless_told_otherwise(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _train("--steps", "2") == 0  # a 2-step toy-2d-cfg now sits in runs/
    shipped_sha = json.loads((checkpoint_dir() / "toy-2d-cfg.json").read_text())["weights_sha256"]
    student = ["train", "toy-2d-distilled", "--steps", "1", "--no-eval", "--quiet", "--threads", "1"]
    assert main(student) == 0
    assert load_checkpoint(tmp_path / "runs" / "toy-2d-distilled")[2]["teacher"]["weights_sha256"] == shipped_sha
    assert main(student + ["--teacher", "runs/toy-2d-cfg", "--out", "own"]) == 0
    teacher = load_checkpoint(tmp_path / "own" / "toy-2d-distilled")[2]["teacher"]
    assert teacher["path"] == "runs/toy-2d-cfg" and teacher["weights_sha256"] != shipped_sha
