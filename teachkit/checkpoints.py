"""Checkpoints: safetensors weights + a JSON provenance record (never pickle); load_pretrained(name) for the shipped models."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from teachkit import schedules as _schedules
from teachkit.datasets import data_dir, sha256_file
from teachkit.models import MODEL_CLASSES
from teachkit.schedules import NoiseSchedule

__all__ = ["save_checkpoint", "load_checkpoint", "load_pretrained", "available_pretrained", "PRETRAINED",
           "schedule_spec", "schedule_from_spec", "checkpoint_dir"]

PRETRAINED = ("toy-2d-cfg", "mnist-cfg", "mnist-classifier", "toy-2d-distilled", "mnist-distilled")

_SCHEDULE_BUILDERS = {
    "linear": _schedules.linear_schedule,
    "cosine": _schedules.cosine_schedule,
    "scaled_linear": _schedules.scaled_linear_schedule,
}


def checkpoint_dir() -> Path:
    """Where the shipped checkpoints live (data/checkpoints, or $TEACHKIT_DATA/checkpoints)."""
    return data_dir() / "checkpoints"


def schedule_spec(name: str = "linear", T: int = 1000, **params) -> dict:
    """A JSON-able description {name, T, params} of a schedule built by one of the schedule constructors."""
    if name not in _SCHEDULE_BUILDERS:
        raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(_SCHEDULE_BUILDERS)}")
    return {"name": name, "T": int(T), "params": dict(params)}


def schedule_from_spec(spec: dict) -> NoiseSchedule:
    """Rebuild a NoiseSchedule from schedule_spec()'s dict."""
    if not isinstance(spec, dict) or spec.get("name") not in _SCHEDULE_BUILDERS:
        raise ValueError(f"bad schedule record {spec!r}; expected {{'name': one of {list(_SCHEDULE_BUILDERS)}, 'T': int, 'params': {{}}}}")
    return _SCHEDULE_BUILDERS[spec["name"]](T=int(spec["T"]), **spec.get("params", {}))


def _paths(path: str | Path) -> tuple[Path, Path]:
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def save_checkpoint(path: str | Path, model: nn.Module, schedule: dict | None = None, info: dict | None = None,
                    dtype: torch.dtype | None = None) -> Path:
    """Write path.safetensors (weights, optionally cast to dtype, e.g. torch.float16) and path.json (config + provenance + sha256)."""
    name = type(model).__name__
    if name not in MODEL_CLASSES or not hasattr(model, "config"):
        raise TypeError(f"cannot checkpoint a {name}: only {', '.join(MODEL_CLASSES)} (models with a .config) are supported")
    st_path, json_path = _paths(path)
    st_path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        tensors[k] = (v.to(dtype) if dtype is not None and v.is_floating_point() else v).contiguous()
    save_file(tensors, str(st_path), metadata={"model_class": name})
    record = dict(info or {})
    record.update({
        "model_class": name,
        "config": model.config,
        "schedule": schedule,
        "weights_file": st_path.name,
        "weights_dtype": str(dtype or "as trained").replace("torch.", ""),
        "weights_sha256": sha256_file(st_path),
    })
    json_path.write_text(json.dumps(record, indent=2, sort_keys=False) + "\n")
    return st_path


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, NoiseSchedule | None, dict]:
    """Load (model in eval mode, schedule or None, info) from path(.safetensors/.json), checking the weights' sha256."""
    st_path, json_path = _paths(path)
    for p in (json_path, st_path):
        if not p.exists():
            raise FileNotFoundError(f"checkpoint file {p} is missing (a checkpoint is a .safetensors + .json pair)")
    try:
        info = json.loads(json_path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{json_path} is not valid JSON ({err}); restore it from git or retrain") from None
    digest = sha256_file(st_path)
    if info.get("weights_sha256") != digest:
        raise ValueError(
            f"{st_path} does not match the sha256 recorded in {json_path.name} "
            f"(recorded {str(info.get('weights_sha256'))[:12]}..., file {digest[:12]}...): the weights were modified "
            f"or belong to another run; restore them from git or retrain with {info.get('command', 'python -m teachkit train NAME')!r}"
        )
    cls = MODEL_CLASSES.get(info.get("model_class"))
    if cls is None:
        raise ValueError(f"{json_path}: unknown model_class {info.get('model_class')!r}; known: {', '.join(MODEL_CLASSES)}")
    try:
        model = cls(**info["config"])
    except (TypeError, KeyError) as err:
        raise ValueError(f"{json_path}: config {info.get('config')} does not build a {cls.__name__} ({err})") from None
    tensors = load_file(str(st_path))
    expected = model.state_dict()
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    bad = [k for k in expected if k in tensors and tensors[k].shape != expected[k].shape]
    if missing or extra or bad:
        raise ValueError(
            f"{st_path} does not fit {cls.__name__}(**config): missing {missing[:3]}, unexpected {extra[:3]}, "
            f"shape mismatch {bad[:3]}; the JSON config and the weights come from different models"
        )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})
    model = model.to(device).eval()
    declared = getattr(model, "prediction", "eps")
    if info.get("prediction", declared) != declared:
        raise ValueError(f"{json_path}: the record says prediction={info.get('prediction')!r} but its config builds a "
                         f"{declared!r}-model; the JSON was edited or mixes two checkpoints: restore it from git or retrain")
    schedule = schedule_from_spec(info["schedule"]) if info.get("schedule") else None
    return model, schedule, info


def available_pretrained() -> list[str]:
    """Names of the shipped models whose files are present."""
    return [n for n in PRETRAINED if (checkpoint_dir() / f"{n}.json").exists()]


def load_pretrained(name: str, device: str | torch.device = "cpu") -> tuple[nn.Module, NoiseSchedule | None, dict]:
    """Load a shipped model by name -> (model, schedule, info); the classifier's schedule is None; a "-distilled" student samples with distilled_sample."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, one of {', '.join(PRETRAINED)}; got {type(name).__name__}")
    if name not in PRETRAINED:
        raise ValueError(f"no pretrained model named {name!r}; available: {', '.join(PRETRAINED)}")
    path = checkpoint_dir() / name
    if not (checkpoint_dir() / f"{name}.json").exists():
        raise FileNotFoundError(f"{name}: {path}.json is missing; rebuild it with `python -m teachkit train {name}`")
    return load_checkpoint(path, device=device)
