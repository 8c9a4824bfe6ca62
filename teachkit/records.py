"""A checkpoint's JSON record: the schedule spec, the seal over its meaning (record_sha256), and the check of every field.

The seal is a sha256 of the canonical JSON (sorted keys, no spaces) of every field except `quality`
(re-measured by `python -m teachkit evaluate NAME --write`) and the seal itself, so editing the schedule,
the prediction, the config or the name of a checkpoint is caught, not only a change of its weights.
It detects accidents, it is not a signature: anyone can reseal a record on purpose with seal_record().
"""
from __future__ import annotations

import hashlib
import inspect
import json
import math
from pathlib import Path

from teachkit import schedules as _schedules
from teachkit.models import MODEL_CLASSES
from teachkit.models.outputs import PREDICTIONS
from teachkit.schedules import NoiseSchedule
from teachkit.training.config import TrainConfig

__all__ = ["PREDICTIONS", "MAX_T", "schedule_spec", "schedule_from_spec", "check_schedule_spec", "seal_record",
           "check_record", "sha256_bytes"]

# the shipped models use T = 1000; a record asking for 10**9 timesteps would allocate gigabytes
MAX_T = 100_000
UNSEALED = ("quality", "record_sha256")

_SCHEDULE_BUILDERS = {
    "linear": _schedules.linear_schedule,
    "cosine": _schedules.cosine_schedule,
    "scaled_linear": _schedules.scaled_linear_schedule,
}


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def check_schedule_spec(spec, where: str = "schedule") -> dict:
    """A clear ValueError unless spec is {name: a known builder, T: int in 1 .. MAX_T, params: that builder's keywords}."""
    expected = f"expected {{'name': one of {list(_SCHEDULE_BUILDERS)}, 'T': int, 'params': {{}}}}"
    if not isinstance(spec, dict) or spec.get("name") not in _SCHEDULE_BUILDERS:
        raise ValueError(f"{where}: bad schedule record {spec!r}; {expected}")
    T = spec.get("T")
    if isinstance(T, bool) or not isinstance(T, int) or not 1 <= T <= MAX_T:
        raise ValueError(f"{where}: schedule T={T!r} must be an integer in 1 .. {MAX_T:,} (the shipped models use 1000)")
    params = spec.get("params", {})
    allowed = [p for p in inspect.signature(_SCHEDULE_BUILDERS[spec["name"]]).parameters if p != "T"]
    if not isinstance(params, dict):
        raise ValueError(f"{where}: schedule params must be a dict of {allowed}, got {params!r}")
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: {spec['name']} schedule has no parameter {', '.join(unknown)}; it takes {allowed}")
    for k, v in params.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{where}: schedule parameter {k}={v!r} must be a finite real number")
    extra = sorted(set(spec) - {"name", "T", "params"})
    if extra:
        raise ValueError(f"{where}: unknown schedule fields {extra}; {expected}")
    return spec


def schedule_spec(name: str = "linear", T: int = 1000, **params) -> dict:
    """A JSON-able description {name, T, params} of a schedule built by one of the schedule constructors."""
    if name not in _SCHEDULE_BUILDERS:
        raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(_SCHEDULE_BUILDERS)}")
    return check_schedule_spec({"name": name, "T": T, "params": dict(params)}, "schedule_spec")


def schedule_from_spec(spec: dict, where: str = "schedule") -> NoiseSchedule:
    """Rebuild a NoiseSchedule from schedule_spec()'s dict (checked first: a bad record never allocates)."""
    check_schedule_spec(spec, where)
    try:
        return _SCHEDULE_BUILDERS[spec["name"]](T=spec["T"], **spec.get("params", {}))
    except ValueError as err:
        raise ValueError(f"{where}: the {spec['name']} schedule {spec.get('params', {})} is invalid ({err})") from None


def seal_record(record: dict) -> str:
    """sha256 of the record's meaning: canonical JSON of every field except quality and record_sha256 itself."""
    meaning = {k: v for k, v in record.items() if k not in UNSEALED}
    return sha256_bytes(json.dumps(meaning, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode())


def check_record(info: dict, where: str | Path) -> None:
    """A clear ValueError unless the record is sealed and every field is one the model classes and schedules accept."""
    fix = "restore it from git (git checkout -- FILE) or retrain"
    if "record_sha256" not in info:
        raise ValueError(f"{where} has no record_sha256 (it was written before teachkit sealed its records, or the "
                         f"field was removed); {fix}, or reseal it on purpose with "
                         "teachkit.checkpoints.reseal_checkpoint(PATH)")
    if info["record_sha256"] != seal_record(info):
        raise ValueError(f"{where} does not match its record_sha256: a field other than 'quality' was edited "
                         f"(schedule, prediction, config, name, ...), which changes what the weights mean; {fix}. "
                         "If the edit was deliberate, reseal it with teachkit.checkpoints.reseal_checkpoint(PATH)")
    if info.get("model_class") not in MODEL_CLASSES:
        raise ValueError(f"{where}: unknown model_class {info.get('model_class')!r}; known: {', '.join(MODEL_CLASSES)}")
    if not isinstance(info.get("config"), dict):
        raise ValueError(f"{where}: config must be a dict of {info['model_class']} arguments, got {info.get('config')!r}")
    prediction = info.get("prediction", "eps")
    if prediction not in PREDICTIONS:
        raise ValueError(f"{where}: prediction {prediction!r} is not one of {', '.join(map(repr, PREDICTIONS))} "
                         "(what the network's output means)")
    consistency = info.get("consistency", False)
    if not isinstance(consistency, bool):
        raise ValueError(f"{where}: consistency must be true or false, got {consistency!r}")
    if consistency and prediction != "v":
        raise ValueError(f"{where}: a consistency (distilled) student predicts 'v', but the record says {prediction!r}")
    if info.get("schedule") is not None:
        schedule_from_spec(info["schedule"], f"{where}")  # checked, then built: its values must make a schedule
        grid = info["config"].get("grid")
        T = info["schedule"]["T"]
        if isinstance(grid, list) and grid and not all(isinstance(t, int) and 0 <= t < T for t in grid):
            raise ValueError(f"{where}: the student's grid {grid[:4]}... holds timesteps outside 0 .. T-1 = {T - 1} of "
                             "its schedule: the schedule's T does not match the one the model was distilled with")
    for key in ("name", "weights_sha256"):
        if key in info and not isinstance(info[key], str):
            raise ValueError(f"{where}: {key} must be a string, got {info[key]!r}")
    if "train_config" in info:
        # every field of the run's TrainConfig (records written before it existed have only "hyperparameters")
        try:
            TrainConfig.from_dict(info["train_config"])
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: train_config is not a valid TrainConfig ({err})") from None
    scale = info.get("guidance_scale", 0.0)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise ValueError(f"{where}: guidance_scale must be a finite number, got {scale!r}")
