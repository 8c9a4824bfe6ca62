"""Checkpoints: safetensors weights + a JSON provenance record (never pickle); load_pretrained(name) for the shipped models.

The record names the sha256 of the weights (`weights_sha256`) and of its own meaning (`record_sha256`: every
field but the re-measurable `quality`), and every field is validated against what the model class and the
schedule builders accept (teachkit.records). Writes are atomic (teachkit.atomic): the new record goes to
NAME.json.pending first, then the weights replace NAME.safetensors, then the record replaces NAME.json, so a
kill at any moment leaves the old pair or the new one loadable. safetensors does the tensor (de)serialization.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes
from torch import nn

from teachkit.atomic import atomic_write_bytes, atomic_write_text, file_lock, fsync_dir, sweep_temp_files
from teachkit.datasets import data_dir
from teachkit.models import MODEL_CLASSES
from teachkit.training.recipes import RECIPES
from teachkit.records import check_record, schedule_from_spec, schedule_spec, seal_record, sha256_bytes
from teachkit.runtime import pick_device
from teachkit.schedules import NoiseSchedule

__all__ = ["save_checkpoint", "load_checkpoint", "load_pretrained", "available_pretrained", "PRETRAINED",
           "schedule_spec", "schedule_from_spec", "checkpoint_dir", "seal_record", "update_quality", "reseal_checkpoint"]

# the shipped models' names: the one registry's keys (teachkit.training.recipes.RECIPES), in its order
PRETRAINED = tuple(RECIPES)


def checkpoint_dir() -> Path:
    """Where the shipped checkpoints live (data/checkpoints, or $TEACHKIT_DATA/checkpoints)."""
    return data_dir() / "checkpoints"


def _paths(path: str | Path) -> tuple[Path, Path]:
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def _pending(json_path: Path) -> Path:
    return json_path.with_name(json_path.name + ".pending")


def save_checkpoint(path: str | Path, model: nn.Module, schedule: dict | None = None, info: dict | None = None,
                    dtype: torch.dtype | None = None) -> Path:
    """Write path.safetensors (weights, optionally cast to dtype, e.g. torch.float16) and path.json (config + provenance + sha256s), atomically."""
    name = type(model).__name__
    if name not in MODEL_CLASSES or not hasattr(model, "config"):
        raise TypeError(f"cannot checkpoint a {name}: only {', '.join(MODEL_CLASSES)} (models with a .config) are supported")
    st_path, json_path = _paths(path)
    tensors = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        tensors[k] = (v.to(dtype) if dtype is not None and v.is_floating_point() else v).contiguous()
    weights = save_bytes(tensors, metadata={"model_class": name})
    record = dict(info or {})
    record.update({
        "model_class": name,
        "config": model.config,
        "schedule": schedule,
        "weights_file": st_path.name,
        "weights_dtype": str(dtype or "as trained").replace("torch.", ""),
        "weights_sha256": sha256_bytes(weights),
    })
    if hasattr(model, "sample_shape"):  # a model that samples (not the classifier) says what it predicts
        record["prediction"] = getattr(model, "prediction", "eps")
        if record["prediction"] != model.config.get("prediction", "eps"):
            raise ValueError(f"the {name} predicts {record['prediction']!r} but its config builds a "
                             f"{model.config.get('prediction', 'eps')!r}-model: pass prediction= to its constructor "
                             "instead of setting the attribute, so the checkpoint rebuilds the same model")
    record.pop("record_sha256", None)
    record["record_sha256"] = seal_record(record)
    check_record(record, json_path)  # nothing is written for a record load_checkpoint would refuse
    text = json.dumps(record, indent=2, sort_keys=False) + "\n"
    st_path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(st_path.with_suffix(""), wait=60.0, what=f"checkpoint {st_path.with_suffix('')}"):
        for p in (st_path, json_path, _pending(json_path)):
            sweep_temp_files(p)  # left by a killed writer
        # 1. the new record, durable before anything is replaced; 2. the weights; 3. the record (the commit)
        atomic_write_text(_pending(json_path), text)
        atomic_write_bytes(st_path, weights)
        os.replace(_pending(json_path), json_path)
        fsync_dir(json_path.parent)
    return st_path


def _read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); restore it from git or retrain") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path} holds a JSON {type(record).__name__}, not a checkpoint record")
    return record


def _stamp(*paths: Path) -> tuple:
    """(inode, size, mtime_ns) of each path that exists: changes whenever a writer replaces one of them."""
    out = []
    for p in paths:
        try:
            st = p.stat()
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
        except FileNotFoundError:
            out.append(None)
    return tuple(out)


def _matching_pair(st_path: Path, json_path: Path, settle: float = 10.0) -> tuple[bytes, dict]:
    """The weights' bytes and the record naming their sha256 (NAME.json, or NAME.json.pending after a killed save).

    Readers take no lock: a pair that changed while it was read (another process saving this checkpoint) is read
    again, for up to `settle` seconds; a mismatch between files that stayed the same is an edit, reported at once.
    """
    lock = Path(str(st_path.with_suffix("")) + ".lock")
    deadline, lock_waits = time.monotonic() + settle, 0
    while True:
        if not json_path.exists() and not _pending(json_path).exists():
            raise FileNotFoundError(f"checkpoint file {json_path} is missing (a checkpoint is a .safetensors + .json pair)")
        if not st_path.exists():
            raise FileNotFoundError(f"checkpoint file {st_path} is missing (a checkpoint is a .safetensors + .json pair)")
        before = _stamp(st_path, json_path, _pending(json_path))
        try:
            weights = st_path.read_bytes()
            info = _read_record(json_path) if json_path.exists() else {}
            candidate = _read_record(_pending(json_path)) if _pending(json_path).exists() else {}
        except (FileNotFoundError, ValueError):
            if _stamp(st_path, json_path, _pending(json_path)) != before and time.monotonic() < deadline:
                continue  # a file was replaced under us mid-read
            raise
        digest = sha256_bytes(weights)
        if info.get("weights_sha256") == digest:
            return weights, info
        # a save was stopped (or is running) after replacing the weights and before committing their record
        if candidate.get("weights_sha256") == digest:
            return weights, candidate
        changed = _stamp(st_path, json_path, _pending(json_path)) != before
        # a lock with nothing changing may be a writer still writing its temp file, or one killed long ago: wait 1 s
        lock_waits = 0 if changed else lock_waits + 1
        if not (changed or (lock.exists() and lock_waits <= 20)) or time.monotonic() >= deadline:
            break
        time.sleep(0.05)  # another process is saving this checkpoint right now: read again once it committed
    raise ValueError(
        f"{st_path} does not match the sha256 recorded in {json_path.name} "
        f"(recorded {str(info.get('weights_sha256'))[:12]}..., file {digest[:12]}...): the weights were modified "
        f"or belong to another run; restore them from git or retrain with {info.get('command', 'python -m teachkit train NAME')!r}"
    )


def _build(info: dict, weights: bytes, st_path: Path, json_path: Path) -> nn.Module:
    """The model the record's class and config build, with the weights loaded; ValueError when they do not fit."""
    cls = MODEL_CLASSES[info["model_class"]]
    try:
        model = cls(**info["config"])
    except (TypeError, KeyError, ValueError) as err:
        raise ValueError(f"{json_path}: config {info.get('config')} does not build a {cls.__name__} ({err})") from None
    tensors = load_bytes(weights)
    expected = model.state_dict()
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    bad = [k for k in expected if k in tensors and tensors[k].shape != expected[k].shape]
    if missing or extra or bad:
        raise ValueError(
            f"{st_path} does not fit {cls.__name__}(**config): missing {missing[:3]}, unexpected {extra[:3]}, "
            f"shape mismatch {bad[:3]}; the JSON config and the weights come from different models"
        )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})
    declared = getattr(model, "prediction", "eps")
    if info.get("prediction", declared) != declared:
        raise ValueError(f"{json_path}: the record says prediction={info.get('prediction')!r} but its config builds a "
                         f"{declared!r}-model; the JSON was edited or mixes two checkpoints: restore it from git or retrain")
    return model


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, NoiseSchedule | None, dict]:
    """Load (model in eval mode, schedule or None, info) from path(.safetensors/.json), checking both sha256s and every field.

    A flow model's schedule is its teachkit.flow.FlowPath (sample it with flow_sample).
    """
    device = pick_device(device)
    st_path, json_path = _paths(path)
    weights, info = _matching_pair(st_path, json_path)
    check_record(info, json_path)
    model = _build(info, weights, st_path, json_path).to(device).eval()
    schedule = schedule_from_spec(info["schedule"]) if info.get("schedule") else None
    if info.get("path"):
        # a flow model (prediction "velocity"): its "schedule" is the path it was trained on (teachkit.flow)
        from teachkit.flow import flow_path_from_spec

        schedule = flow_path_from_spec(info["path"])
    return model, schedule, info


def update_quality(path: str | Path, quality: dict) -> Path:
    """Store a re-measured `quality` in path.json (atomically; `quality` is outside record_sha256, so the seal holds)."""
    st_path, json_path = _paths(path)
    with file_lock(st_path.with_suffix(""), wait=60.0, what=f"checkpoint {st_path.with_suffix('')}"):
        _, record = _matching_pair(st_path, json_path)
        record["quality"] = quality
        atomic_write_text(json_path, json.dumps(record, indent=2) + "\n")
    return json_path


def reseal_checkpoint(path: str | Path) -> str:
    """After a deliberate edit of path.json: check the weights' sha256 and every field, then store the new record_sha256."""
    st_path, json_path = _paths(path)
    with file_lock(st_path.with_suffix(""), wait=60.0, what=f"checkpoint {st_path.with_suffix('')}"):
        weights, record = _matching_pair(st_path, json_path)
        record["record_sha256"] = seal_record(record)
        check_record(record, json_path)
        _build(record, weights, st_path, json_path)  # the config fits the weights: checked before anything is written
        atomic_write_text(json_path, json.dumps(record, indent=2) + "\n")
    return record["record_sha256"]


def available_pretrained() -> list[str]:
    """Names of the shipped models whose files are present."""
    return [n for n in PRETRAINED if (checkpoint_dir() / f"{n}.json").exists()]


# what a recipe kind's model predicts (teachkit.training.recipes.RECIPES[name].kind)
_KIND_PREDICTION = {"eps": "eps", "distilled": "v", "flow": "velocity"}


def load_pretrained(name: str, device: str | torch.device = "cpu") -> tuple[nn.Module, NoiseSchedule | None, dict]:
    """Load a shipped model by name -> (model, schedule, info); the classifier's schedule is None; a "-distilled" student samples with distilled_sample."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, one of {', '.join(PRETRAINED)}; got {type(name).__name__}")
    if name not in PRETRAINED:
        raise ValueError(f"no pretrained model named {name!r}; available: {', '.join(PRETRAINED)}")
    path = checkpoint_dir() / name
    if not (checkpoint_dir() / f"{name}.json").exists():
        raise FileNotFoundError(f"{name}: {path}.json is missing; rebuild it with `python -m teachkit train {name} --replace-shipped`")
    model, schedule, info = load_checkpoint(path, device=device)
    restore = f"restore data/checkpoints/{name}.* with `git checkout -- data/checkpoints/{name}.*`"
    if info.get("name") != name:
        raise ValueError(f"{path}.json is the record of {info.get('name')!r}, not of {name!r}: the files were "
                         f"renamed or copied over; {restore}")
    kind = RECIPES[name].kind
    want = _KIND_PREDICTION.get(kind)
    if want is not None and info.get("prediction", "eps") != want:
        raise ValueError(f"{name} is a {kind!r} model, whose prediction is {want!r}, but its record says "
                         f"prediction {info.get('prediction', 'eps')!r}; {restore}")
    if kind == "classifier" and schedule is not None:
        raise ValueError(f"{name} is a classifier and has no noise schedule, but its record names one; {restore}")
    return model, schedule, info

