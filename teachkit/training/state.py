"""Resumable training state: one safetensors file (weights, EMA, AdamW moments, RNG, epoch order, step, losses), written atomically.

Everything --resume needs (also the global CPU RNG that dropout draws from) lives in RUN_DIR/last.safetensors,
replaced in one os.replace (teachkit.atomic),
so its parts cannot come from two different steps; last.json beside it is a summary for people, never read
back. The file also records the run it belongs to (model config, data sha256, hyper-parameters): resuming
with other flags or data would silently train something else, so it is refused. safetensors does the
(de)serialization.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes
from torch import nn

from teachkit.atomic import atomic_write_bytes, atomic_write_text

__all__ = ["FORMAT", "run_fingerprint", "save_state", "load_state", "tensor_sha256"]

FORMAT = "teachkit-train-state/2"


def tensor_sha256(t: torch.Tensor | None) -> str | None:
    """sha256 of a tensor's dtype, shape and bytes (None for None)."""
    if t is None:
        return None
    t = t.detach().cpu().contiguous()
    h = hashlib.sha256(f"{t.dtype} {tuple(t.shape)}".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def run_fingerprint(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, **hyperparameters) -> dict:
    """What makes a resumed run the same run: the model, the data, the hyper-parameters (JSON-able)."""
    return {"model": {"class": type(model).__name__, "config": getattr(model, "config", None)},
            "data": {"x": tensor_sha256(x), "y": tensor_sha256(y)},
            **{k: v for k, v in sorted(hyperparameters.items())}}


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def save_state(path: Path, step: int, model, ema, opt, gen, losses, perm, pos, fingerprint: dict | None = None) -> None:
    """Write PATH.safetensors (all of the state, atomically), then PATH.json (a summary for people)."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()})
    for i, state in opt.state_dict()["state"].items():
        tensors.update({f"opt.{i}.{k}": torch.as_tensor(v).detach().cpu().contiguous() for k, v in state.items()})
    tensors["rng"] = gen.get_state()
    # torch's global CPU generator: what dropout draws from (fit seeds it, scoped, for the run)
    tensors["global_rng"] = torch.get_rng_state()
    tensors["perm"] = perm.detach().cpu().contiguous()
    tensors["losses"] = torch.tensor(losses, dtype=torch.float64)
    meta = {"format": FORMAT, "step": str(step), "pos": str(pos), "run": _canonical(fingerprint)}
    atomic_write_bytes(path.with_suffix(".safetensors"), save_bytes(tensors, metadata=meta))
    tail = losses[-50:]
    summary = {"step": step, "mean_loss_last_50": sum(tail) / max(1, len(tail)), "run": fingerprint,
               "note": "a summary; --resume reads only last.safetensors"}
    atomic_write_text(path.with_suffix(".json"), json.dumps(summary, indent=1, default=str) + "\n")


def _differences(saved: dict, now: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(saved) | set(now)):
        a, b = saved.get(k), now.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{k}.")
        elif _canonical(a) != _canonical(b):
            out.append(f"{prefix}{k}: {a!r} in the state, {b!r} now")
    return out


def load_state(path: Path, model, ema, opt, gen, fingerprint: dict | None, N: int,
               batch_size: int) -> tuple[int, list[float], torch.Tensor, int]:
    """(step, losses, perm, pos) from PATH.safetensors after loading the weights, moments and RNG; ValueError on any inconsistency."""
    st = path.with_suffix(".safetensors")
    if not st.exists():
        raise FileNotFoundError(f"resume=True but there is no training state at {st}")
    fresh = "resume with the same flags and data, or start again without --resume"
    try:
        raw = st.read_bytes()
        tensors = load_bytes(raw)
        # safetensors layout: an 8-byte little-endian header length, then the JSON header with __metadata__
        header_len = int.from_bytes(raw[:8], "little")
        meta = json.loads(raw[8:8 + header_len]).get("__metadata__") or {}
    except Exception as err:  # safetensors raises its own error type on a short or garbled file
        raise ValueError(f"{st} is truncated or damaged ({type(err).__name__}: {err}); start again without "
                         "--resume (or restore the file from a backup)") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{st} was written by an older teachkit (no step record inside it); start again without --resume")
    saved_run = json.loads(meta["run"])
    if fingerprint is not None and _canonical(saved_run) != _canonical(fingerprint):
        diff = "; ".join(_differences(saved_run or {}, fingerprint)[:4])
        raise ValueError(f"{st} belongs to another run ({diff}): resuming it would train something else; {fresh}")
    step, pos, losses, perm = int(meta["step"]), int(meta["pos"]), tensors["losses"].tolist(), tensors["perm"]
    problems = []
    if len(losses) != step:
        problems.append(f"step {step} but {len(losses)} recorded losses")
    if perm.ndim != 1 or perm.numel() != N:
        problems.append(f"an epoch order of {perm.numel()} rows for data of {N}")
    if not 0 <= pos <= max(N, batch_size):
        problems.append(f"a position {pos} outside the data's {N} rows")
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
        state: dict[int, dict] = {}
        for k, v in tensors.items():
            if k.startswith("opt."):
                _, i, name = k.split(".", 2)
                state.setdefault(int(i), {})[name] = v
        opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})
        gen.set_state(tensors["rng"])
        if "global_rng" in tensors:  # a state written before it was recorded resumes without it
            torch.set_rng_state(tensors["global_rng"])
    except (RuntimeError, ValueError, KeyError) as err:
        problems.append(f"weights or optimizer state that do not fit this model ({str(err).splitlines()[0]})")
    if problems:
        raise ValueError(f"the parts of {st} disagree: {'; '.join(problems)}; {fresh}")
    return step, losses, perm, pos
