"""The bad-input table (issue 16): each row is an input, the exception it must raise, and words the message must hold.

Every case the issue lists (items 3, 4, 6, 7, 8) and the checks that held before it; the README's
"Troubleshooting" section shows the ten a student meets most. Rows are cheap: each raises before any loop.
"""
from __future__ import annotations

import gzip
import json
import shutil
import sys
import warnings

import pytest
import torch

import teachkit
from teachkit.checkpoints import checkpoint_dir, load_checkpoint, load_pretrained, schedule_from_spec, seal_record
from teachkit.datasets import toy
from teachkit.guidance import cfg_combine
from teachkit.models import SmallUNet, ToyMLP
from teachkit.samplers import SAMPLERS, ddim_sample, ddim_step, ddpm_sample, ddpm_step
from teachkit.schedules import NoiseSchedule, cosine_schedule, linear_schedule, scaled_linear_schedule, timesteps
from teachkit.training import train

torch.set_num_threads(1)

S = linear_schedule(T=50)
M = ToyMLP(hidden=16, layers=1, num_classes=2).eval()
X = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
D, Y = toy("moons", 64, seed=0)


class TupleModel(torch.nn.Module):
    def forward(self, x, t, y=None):
        return (x,)


def _train(**kw):
    args = dict(steps=2, progress=False)
    args.update(kw)
    x, y = args.pop("x", D), args.pop("y", Y)
    return train(args.pop("model", ToyMLP(hidden=8, layers=1, num_classes=2)), args.pop("schedule", S), x, y, **args)


def _nan_data():
    bad = D.clone()
    bad[3] = float("nan")
    return bad


# (id, call, exception type, words the message must contain)
TABLE = [
    # --- item 6: misleading sampler messages ---
    ("x_T float16", lambda: ddim_sample(M, S, X.half(), 5), TypeError, "float16"),
    ("x_T float64", lambda: ddim_sample(M, S, X.double(), 5), TypeError, "x_T = x_T.to(torch.float32)"),
    ("x_T bfloat16", lambda: ddim_sample(M, S, X.bfloat16(), 5), TypeError, "bfloat16"),
    ("x_T numpy", lambda: ddim_sample(M, S, X.numpy(), 5), TypeError, "torch.from_numpy"),
    ("half model", lambda: ddim_sample(ToyMLP(hidden=8, layers=1).half(), S, X, 5), TypeError, "weights are torch.float16"),
    ("double model", lambda: ddim_sample(ToyMLP(hidden=8, layers=1).double(), S, X, 5), TypeError, "float64"),
    ("schedule None", lambda: ddim_sample(M, None, X, 5), TypeError, "NoiseSchedule"),
    ("betas as schedule", lambda: ddim_sample(M, S.betas, X, 5), TypeError, "NoiseSchedule, got Tensor"),
    ("float labels", lambda: ddim_sample(M, S, X, 5, y=torch.zeros(4)), TypeError, "y.long()"),
    ("scaled_linear negative beta", lambda: scaled_linear_schedule(beta_start=-0.1), ValueError, "beta_start"),
    ("linear beta above 1", lambda: linear_schedule(beta_end=1.5), ValueError, "beta_end"),
    ("cosine max_beta 0", lambda: cosine_schedule(max_beta=0.0), ValueError, "max_beta"),
    ("ddim_step alpha_bar > 1", lambda: ddim_step(X, X, 1.5, 1.0), ValueError, "alpha_bar_t=1.5"),
    ("ddim_step prev below t", lambda: ddim_step(X, X, 0.5, 0.2), ValueError, "alpha_bar_prev"),
    ("ddpm_step at alpha_bar 1", lambda: ddpm_step(X, X, 1.0, 1.0), ValueError, "clean"),
    ("model returns a tuple", lambda: ddim_sample(TupleModel(), S, X, 5), TypeError, "returned a tuple"),
    # --- item 8: silent truncation, broadcasting, overflow ---
    ("q_sample t=10.7", lambda: S.q_sample(X, 10.7), ValueError, "not an integer timestep"),
    ("q_sample float tensor t", lambda: S.q_sample(X, torch.full((4,), 10.7)), TypeError, "t.long()"),
    ("alpha_bar_at float tensor", lambda: S.alpha_bar_at(torch.tensor([1.5])), TypeError, "integer timesteps"),
    ("ddim_step eps (8, 1) for x (8, 2)", lambda: ddim_step(torch.randn(8, 2), torch.randn(8, 1), 0.5, 0.9),
     ValueError, "no broadcasting"),
    ("ddpm_step eps shape", lambda: ddpm_step(torch.randn(8, 2), torch.randn(2), 0.5, 0.9), ValueError, "must match"),
    ("alpha_bar below 1e-20", lambda: ddim_sample(M, NoiseSchedule(torch.full((100,), 0.5)), X, 5), ValueError,
     "overflows float32"),
    ("schedule T = 10**9 in a record", lambda: schedule_from_spec({"name": "linear", "T": 10**9, "params": {}}),
     ValueError, "100,000"),
    # --- item 3: training inputs ---
    ("batch_size 0", lambda: _train(batch_size=0), ValueError, "batch_size=0"),
    ("batch_size -1", lambda: _train(batch_size=-1), ValueError, "batch_size=-1"),
    ("NaN training data", lambda: _train(x=_nan_data()), ValueError, "NaN or inf"),
    ("empty training data", lambda: _train(x=D[:0], y=Y[:0]), ValueError, "no training examples"),
    ("lr 0", lambda: _train(lr=0), ValueError, "learning rate"),
    ("train schedule betas", lambda: _train(schedule=S.betas), TypeError, "NoiseSchedule"),
    ("train numpy data", lambda: _train(x=D.numpy()), TypeError, "torch.as_tensor"),
    ("classifier batch_size 0", lambda: __import__("teachkit.training.recipes").training.recipes.train_classifier(
        __import__("teachkit.models").models.MnistClassifier(), torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long),
        batch_size=0, progress=False), ValueError, "batch_size=0"),
    ("diverging loss", lambda: _train(x=D * 1e30, lr=1e10, warmup=1, grad_clip=None, steps=60), FloatingPointError,
     "diverged"),
    # --- item 7: tracebacks instead of one line ---
    ("load_pretrained device gpu", lambda: load_pretrained("toy-2d-cfg", device="gpu"), ValueError, "not a device"),
    ("setup threads -1", lambda: teachkit.setup(threads=-1, verbose=False), ValueError, "positive integer"),
    # --- checks that held before the issue (kept) ---
    ("steps 0", lambda: ddim_sample(M, S, X, 0), ValueError, "at least one step"),
    ("steps > T", lambda: ddim_sample(M, S, X, 51), ValueError, "T=50"),
    ("eta 2", lambda: ddim_sample(M, S, X, 5, eta=2.0), ValueError, "eta=2.0"),
    ("x_T wrong sample shape", lambda: ddim_sample(M, S, torch.randn(4, 3), 5), ValueError, "(B, 2)"),
    ("x_T NaN", lambda: ddim_sample(M, S, X * float("nan"), 5), ValueError, "NaN or inf"),
    ("guidance scale inf", lambda: ddim_sample(M, S, X, 5, y=0, guidance_scale=float("inf")), TypeError, "finite"),
    ("label out of range", lambda: ddim_sample(M, S, X, 5, y=7), ValueError, "labels must lie in 0 .. 1"),
    ("labels on an unconditional model", lambda: ddim_sample(ToyMLP(hidden=8, layers=1), S, X, 5, y=0), ValueError,
     "unconditional"),
    ("unknown spacing", lambda: timesteps(50, 5, "middle"), ValueError, "unknown spacing"),
    ("T 0", lambda: linear_schedule(T=0), ValueError, "positive integer"),
    ("betas of shape (2, 2)", lambda: NoiseSchedule(torch.full((2, 2), 0.1)), ValueError, "shape (T,)"),
    ("cfg_combine shapes", lambda: cfg_combine(torch.zeros(2), torch.zeros(3), 3.0), ValueError, "differ in shape"),
    ("unknown pretrained name", lambda: load_pretrained("mnist-gan"), ValueError, "available"),
    ("pretrained name not a string", lambda: load_pretrained(3), TypeError, "string"),
    ("unknown sampler name", lambda: teachkit.samplers.get_sampler("Euler-a"), ValueError, "DDIM"),
    ("training labels out of range", lambda: _train(y=Y + 5), ValueError, "labels must lie in 0 .. 1"),
    ("labels for an unconditional model", lambda: _train(model=ToyMLP(hidden=8, layers=1)), ValueError, "unconditional"),
    ("p_uncond 1", lambda: _train(p_uncond=1.0), ValueError, "p_uncond"),
    ("UNet on 2-D points", lambda: ddim_sample(SmallUNet(channels=(8, 16), emb_dim=32), S, X, 5), ValueError,
     "expects (1, 28, 28)"),
]


@pytest.mark.parametrize("call, exc, words", [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_bad_input_table(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    assert words in str(info.value), str(info.value)
    assert type(info.value) is not AssertionError


def test_int8_labels_are_labels():
    # item 6: int8 labels were refused as "must hold integer class labels, got int8"
    a = ddim_sample(M, S, X, 5, y=torch.tensor([0, 1, 0, 1], dtype=torch.int8)).sample
    b = ddim_sample(M, S, X, 5, y=torch.tensor([0, 1, 0, 1])).sample
    assert torch.equal(a, b)


def test_extreme_guidance_scale_warns_once():
    # item 8: guidance scale 1e300 gave NaN without a word
    with pytest.warns(RuntimeWarning, match="NaN or inf"):
        out = ddim_sample(M, S, X, 5, y=0, guidance_scale=1e300).sample
    assert not torch.isfinite(out).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ddim_sample(M, S, X, 5, y=0, guidance_scale=3.0)


def test_every_sampler_names_a_wrong_schedule():
    student = ToyMLP(hidden=8, layers=1, num_classes=2, prediction="v", grid=(49, 24))
    flow = ToyMLP(hidden=8, layers=1, num_classes=2, prediction="velocity", time_scale=1000.0).eval()
    for spec in SAMPLERS.values():
        model = next(m for m in (M, student, flow) if spec.accepts(m))
        assert spec.accepts(model), spec.name
        for bad in (None, S.betas):
            with pytest.raises(TypeError, match="NoiseSchedule"):
                spec.fn(model, bad, X, steps=2)


def test_mnist_labels_above_9_are_refused(tmp_path):
    # item 8: mnist(root=...) accepted label 200
    from teachkit.datasets import mnist

    src = checkpoint_dir().parent / "mnist"
    for name in ("test-images-idx3-ubyte.gz", "test-labels-idx1-ubyte.gz"):
        shutil.copy(src / name, tmp_path / name.replace("test", "t10k"))
    raw = bytearray(gzip.decompress((tmp_path / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    raw[8 + 7] = 200
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(ValueError, match="label 200 at index 7"):
        mnist("test", root=tmp_path)


def test_record_with_unknown_prediction_is_refused(tmp_path):
    # item 4: an unknown "x0" prediction was accepted
    for ext in (".safetensors", ".json"):
        shutil.copy(checkpoint_dir() / f"toy-2d-cfg{ext}", tmp_path / f"m{ext}")
    record = json.loads((tmp_path / "m.json").read_text())
    record["prediction"] = "x0"
    (tmp_path / "m.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="record_sha256"):
        load_checkpoint(tmp_path / "m")
    record["record_sha256"] = seal_record(record)
    (tmp_path / "m.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="prediction 'x0' is not one of"):
        load_checkpoint(tmp_path / "m")


# (argv, words): each must exit 2 with one line on stderr, no traceback
CLI = [
    (["train", "toy-2d-cfg", "--threads", "-1"], "--threads -1"),
    (["train", "toy-2d-cfg", "--batch-size", "0"], "--batch-size 0"),
    (["train", "toy-2d-cfg", "--device", "gpu"], "not a device"),
    (["train", "toy-2d-cfg", "--out", str(checkpoint_dir())], "--replace-shipped"),
    (["evaluate", "toy-2d-cfg", "--threads", "-1"], "--threads -1"),
    (["bench", "--threads", "-1"], "--threads=-1"),
    (["notebooks", "/etc/hostname", "--execute"], "is not a notebook"),
    (["notebooks", sys.executable, "--execute"], "is not a notebook"),
]


@pytest.mark.parametrize("argv, words", CLI, ids=[" ".join(a[:3]) for a, _ in CLI])
def test_bad_command_lines_exit_2_with_one_line(argv, words, capsys, tmp_path, monkeypatch):
    from teachkit.__main__ import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and words in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()


def test_bench_report_only_on_an_empty_directory(tmp_path, capsys):
    from teachkit.__main__ import main

    with pytest.raises(SystemExit) as info:
        main(["bench", "--report-only", "--out", str(tmp_path)])
    assert info.value.code == 2 and "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "RESULTS.md").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU-only message")
def test_cuda_on_a_cpu_build_is_one_line(capsys):
    from teachkit.__main__ import main

    with pytest.raises(SystemExit):
        main(["train", "toy-2d-cfg", "--device", "cuda"])
    assert "CUDA" in capsys.readouterr().err
    with pytest.raises(ValueError, match="CUDA"):
        load_pretrained("toy-2d-cfg", device="cuda")

