"""The eps-prediction training loop: simple DDPM loss (Ho et al. 2020, Eq. 14), label dropout for CFG (Ho & Salimans 2022), AdamW, EMA."""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from teachkit.runtime import pick_device
from teachkit.schedules import NoiseSchedule

__all__ = ["train", "fit", "TrainResult", "ddpm_loss", "drop_labels", "lr_at", "ema_update"]


def drop_labels(y: torch.Tensor, null_label: int, p_uncond: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Replace each label by the null label with probability p_uncond (CFG label dropout, Ho & Salimans 2022, Alg. 1)."""
    drop = torch.rand(y.shape, device=y.device, generator=generator) < p_uncond
    return torch.where(drop, torch.full_like(y, null_label), y)


def ddpm_loss(model: nn.Module, alpha_bar: torch.Tensor, x0: torch.Tensor, y: torch.Tensor | None,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """L_simple = E ||eps - eps_theta(sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps, t)||^2 (DDPM Eq. 14); alpha_bar on x0's device."""
    B = x0.shape[0]
    # DDPM Alg. 1: t ~ Uniform({0, ..., T-1}), eps ~ N(0, I)
    t = torch.randint(0, alpha_bar.shape[0], (B,), device=x0.device, generator=generator)
    eps = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
    # (B, 1, ..., 1) so alpha_bar_t broadcasts over the sample dimensions
    ab = alpha_bar[t].reshape(-1, *([1] * (x0.ndim - 1)))
    # DDPM Eq. (4): x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps
    x_t = ab.sqrt() * x0 + (1.0 - ab).sqrt() * eps
    # DDPM Eq. (14): || eps - eps_theta(x_t, t) ||^2
    return (model(x_t, t, y) - eps).pow(2).mean()


def lr_at(step: int, lr: float, steps: int, warmup: int, decay: str) -> float:
    """Learning rate at a step: linear warmup, then constant or cosine decay to lr / 10."""
    if step < warmup:
        return lr * (step + 1) / warmup
    if decay == "constant":
        return lr
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    # cosine from lr down to 0.1 lr
    return lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """In place: theta_ema <- decay theta_ema + (1 - decay) theta (the EMA of weights; also consistency models' target, Song et al. 2023, Eq. 8)."""
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        # theta_ema + (1 - decay) (theta - theta_ema) = decay theta_ema + (1 - decay) theta
        p_ema.lerp_(p, 1.0 - decay)


@dataclass
class TrainResult:
    """What train() returns: the EMA model (use this one to sample), the raw model, the per-step losses."""

    ema_model: nn.Module
    model: nn.Module
    losses: list[float] = field(default_factory=list)
    steps: int = 0
    wall_time_s: float = 0.0


def _check_data(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> None:
    if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point:
        raise TypeError(f"training data x must be a float tensor, got {getattr(x, 'dtype', type(x).__name__)}")
    shape = tuple(getattr(model, "sample_shape", x.shape[1:]))
    if tuple(x.shape[1:]) != shape:
        raise ValueError(f"data of shape {tuple(x.shape)} does not fit the model's sample_shape {shape}")
    num_classes = getattr(model, "num_classes", None)
    if y is not None:
        if num_classes is None:
            raise ValueError("labels y were given but the model is unconditional (num_classes=None)")
        if y.shape != (x.shape[0],) or y.dtype.is_floating_point:
            raise ValueError(f"labels must be an integer tensor of shape ({x.shape[0]},), got {y.dtype} {tuple(y.shape)}")
        if int(y.min()) < 0 or int(y.max()) >= num_classes:
            raise ValueError(f"labels must lie in 0 .. {num_classes - 1}, got [{int(y.min())}, {int(y.max())}]")


def _save_state(path: Path, step: int, model, ema, opt, gen, losses, perm, pos) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()})
    for i, state in opt.state_dict()["state"].items():
        tensors.update({f"opt.{i}.{k}": torch.as_tensor(v).detach().cpu().contiguous() for k, v in state.items()})
    tensors["rng"] = gen.get_state()
    tensors["perm"] = perm.detach().cpu()
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(path.with_suffix(".safetensors"))
    path.with_suffix(".json").write_text(json.dumps({"step": step, "pos": pos, "losses": losses}))


def _load_state(path: Path, model, ema, opt, gen) -> tuple[int, list[float], torch.Tensor, int]:
    tensors = load_file(str(path.with_suffix(".safetensors")))
    meta = json.loads(path.with_suffix(".json").read_text())
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, i, name = k.split(".", 2)
            state.setdefault(int(i), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})
    gen.set_state(tensors["rng"])
    # states written before the permutation was saved restart the epoch order
    return int(meta["step"]), list(meta["losses"]), tensors.get("perm"), int(meta.get("pos", 0))


def train(model: nn.Module, schedule: NoiseSchedule, x: torch.Tensor, y: torch.Tensor | None = None, *,
          steps: int = 1000, batch_size: int = 128, lr: float = 1e-3, weight_decay: float = 0.0,
          p_uncond: float = 0.1, ema_decay: float = 0.999, grad_clip: float | None = 1.0, warmup: int = 100,
          lr_decay: str = "cosine", seed: int = 0, device: str | torch.device | None = None,
          progress: bool = True, callback: Callable | None = None, callback_every: int = 100,
          checkpoint_dir: str | Path | None = None, checkpoint_every: int = 500, resume: bool = False) -> TrainResult:
    """Train an eps-model with the simple DDPM loss (Eq. 14) and CFG label dropout; callback(step, losses, ema_model) every callback_every steps."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps={steps!r}: training needs a positive integer number of steps")
    if not 0.0 <= p_uncond < 1.0:
        raise ValueError(f"p_uncond={p_uncond} must lie in [0, 1): it is the probability of dropping a label")
    if lr_decay not in ("cosine", "constant"):
        raise ValueError(f"lr_decay={lr_decay!r}; choose 'cosine' or 'constant'")
    _check_data(model, x, y)
    device = pick_device(device)
    torch.manual_seed(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    model = model.to(device).train()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    alpha_bar = schedule.alpha_bar.to(device=device, dtype=x.dtype)
    return fit(model, ema, lambda x0, y_in: ddpm_loss(model, alpha_bar, x0, y_in, gen), x, y,
               null_label=getattr(model, "null_label", None), steps=steps, batch_size=batch_size, lr=lr,
               weight_decay=weight_decay, p_uncond=p_uncond, grad_clip=grad_clip, warmup=warmup, lr_decay=lr_decay,
               # EMA with warmup: decay_eff = min(decay, (1 + step) / (10 + step))
               ema_decay_at=lambda step: min(ema_decay, (1 + step) / (10 + step)),
               generator=gen, progress=progress, desc="train", callback=callback, callback_every=callback_every,
               checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every, resume=resume)


def fit(model: nn.Module, ema: nn.Module, loss_fn: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
        x: torch.Tensor, y: torch.Tensor | None, *, null_label: int | None, steps: int, batch_size: int, lr: float,
        weight_decay: float, p_uncond: float, grad_clip: float | None, warmup: int, lr_decay: str,
        ema_decay_at: Callable[[int], float], generator: torch.Generator, progress: bool = True, desc: str = "train",
        callback: Callable | None = None, callback_every: int = 100, checkpoint_dir: str | Path | None = None,
        checkpoint_every: int = 500, resume: bool = False) -> TrainResult:
    """The loop train() and distill() share: minibatches, label dropout, AdamW with lr_at, clipping, an EMA copy, checkpoints.

    loss_fn(x0_batch, y_batch) -> scalar loss of `model`; `ema` is updated towards `model` with ema_decay_at(step).
    """
    device = next(model.parameters()).device
    gen = generator
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    x = x.to(device)
    y = y.to(device) if y is not None else None
    ckpt = Path(checkpoint_dir) / "last" if checkpoint_dir is not None else None
    start, losses, perm, pos = 0, [], None, 0
    if resume:
        if ckpt is None or not ckpt.with_suffix(".json").exists():
            raise FileNotFoundError(f"resume=True but there is no training state at {ckpt}(.safetensors/.json)")
        start, losses, perm, pos = _load_state(ckpt, model, ema, opt, gen)
        perm = perm.to(device) if perm is not None else None
    N = x.shape[0]
    pending: list[torch.Tensor] = []
    t0 = time.perf_counter()
    bar = tqdm(range(start, steps), total=steps, initial=start, disable=not progress, desc=desc, leave=True)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, lr, steps, warmup, lr_decay)
        # fresh permutation each epoch; batches are index views into the full tensors (no DataLoader)
        if perm is None or pos + batch_size > N:
            perm, pos = torch.randperm(N, device=device, generator=gen), 0
        idx = perm[pos:pos + min(batch_size, N)]
        pos += batch_size
        y_in = None
        if y is not None and null_label is not None:
            y_in = drop_labels(y[idx], null_label, p_uncond, gen)
        loss = loss_fn(x[idx], y_in)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        ema_update(ema, model, ema_decay_at(step))
        pending.append(loss.detach())
        done = step + 1
        if len(pending) >= 50 or done == steps or (callback and done % callback_every == 0):
            losses.extend(torch.stack(pending).cpu().tolist())
            pending.clear()
            bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.5f}")
        if callback is not None and done % callback_every == 0:
            callback(done, losses, ema)
        if ckpt is not None and (done % checkpoint_every == 0 or done == steps):
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            _save_state(ckpt, done, model, ema, opt, gen, losses, perm, pos)
    bar.close()
    return TrainResult(ema_model=ema, model=model, losses=losses, steps=steps, wall_time_s=time.perf_counter() - t0)
