"""The one training loop (fit) and the eps-model objective: simple DDPM loss (Ho et al. 2020, Eq. 14), CFG label dropout (Ho & Salimans 2022), AdamW, EMA.

fit(model, ema, loss_fn, x, y, config) trains every model: train() here, distill() (teachkit.training.distill),
train_flow() (teachkit.training.flow_matching) and the metric classifier (teachkit.training.recipes.train_classifier) each give
it a loss function and a teachkit.training.config.TrainConfig. torch.optim.AdamW and tqdm do the rest.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from teachkit.atomic import check_writable, file_lock
from teachkit.labels import check_labels
from teachkit.runtime import pick_device, seeded, torch_threads
from teachkit.schedules import NoiseSchedule
from teachkit.training.state import load_state as _load_state
from teachkit.training.state import run_fingerprint
from teachkit.training.config import RUN_ONLY, TrainConfig, config_for
from teachkit.training.state import save_state as _save_state

__all__ = ["train", "fit", "TrainResult", "TrainConfig", "ddpm_loss", "drop_labels", "lr_at", "ema_update"]


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


def lr_at(step: int, lr: float, steps: int, warmup: int, decay: str, final: float = 0.1) -> float:
    """Learning rate at a step: linear warmup, then constant or cosine decay to final * lr (default lr / 10)."""
    if step < warmup:
        return lr * (step + 1) / warmup
    if decay == "constant":
        return lr
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    # cosine from lr down to final * lr
    return lr * (final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress)))


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """In place: theta_ema <- decay theta_ema + (1 - decay) theta (the EMA of weights; also consistency models' target, Song et al. 2023, Eq. 8)."""
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        if decay == 0.0:
            p_ema.copy_(p)  # no EMA: the copy equals the model
            continue
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
    """Clear errors for training data a model cannot learn from (checked once, before the loop)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"training data x must be a torch.Tensor, got {type(x).__name__}; "
                        "convert it with torch.as_tensor(x, dtype=torch.float32)")
    if not x.dtype.is_floating_point:
        raise TypeError(f"training data x must be a float tensor, got {x.dtype}; use x.float()")
    if x.ndim < 2 or x.shape[0] < 1:
        raise ValueError(f"x of shape {tuple(x.shape)} holds no training examples: it must be a batch (N, ...) with N >= 1")
    shape = tuple(getattr(model, "sample_shape", x.shape[1:]))
    if tuple(x.shape[1:]) != shape:
        raise ValueError(f"data of shape {tuple(x.shape)} does not fit the model's sample_shape {shape}")
    finite = torch.isfinite(x.reshape(x.shape[0], -1)).all(dim=1)
    if not bool(finite.all()):
        rows = (~finite).nonzero().flatten()
        raise ValueError(f"training data x contains NaN or inf in {rows.numel()} of {x.shape[0]} rows "
                         f"(first: row {int(rows[0])}); every loss would be NaN. Drop or fix those rows, e.g. "
                         "x = x[torch.isfinite(x).flatten(1).all(1)]")
    check_labels(y, getattr(model, "num_classes", None), x.shape[0], null_ok=False, owner=f"the {type(model).__name__}",
                 fix="train it with y=None, or build it with num_classes", match="x")


def _check_run(callback, callback_every) -> None:
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a function callback(step, losses, ema_model), got {type(callback).__name__}")
    if isinstance(callback_every, bool) or not isinstance(callback_every, int):
        raise TypeError(f"callback_every must be an integer, got {callback_every!r}")
    if callback_every < 1:
        raise ValueError(f"callback_every={callback_every} must be >= 1")


def train(model: nn.Module, schedule: NoiseSchedule, x: torch.Tensor, y: torch.Tensor | None = None, *,
          config: TrainConfig | None = None, progress: bool = True, callback: Callable | None = None,
          callback_every: int = 100, checkpoint_dir: str | Path | None = None, resume: bool = False,
          **settings) -> TrainResult:
    """Train an eps-model with the simple DDPM loss (Eq. 14) and CFG label dropout; callback(step, losses, ema_model) every callback_every steps.

    `config` is a TrainConfig (default: TrainConfig()); keyword `settings` (steps=, batch_size=, lr=, ema_decay=,
    p_uncond=, seed=, device=, ... any TrainConfig field) replace its fields. Seed the model's initialization
    yourself (build it inside teachkit.runtime.seeded(seed)): `seed` fixes everything from here on (batches,
    timesteps, noise, label dropout), so the same model, data and seed give the same weights. The global random
    state is left as it was.
    """
    config = config_for("ddpm", config, settings)
    _check_run(callback, callback_every)
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"schedule must be a teachkit NoiseSchedule (e.g. linear_schedule()), got {type(schedule).__name__}")
    _check_data(model, x, y)
    device = pick_device(config.device)
    gen = torch.Generator(device=device).manual_seed(config.seed)
    model = model.to(device).train()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    alpha_bar = schedule.alpha_bar.to(device=device, dtype=x.dtype)
    return fit(model, ema, lambda x0, y_in: ddpm_loss(model, alpha_bar, x0, y_in, gen), x, y, config,
               generator=gen, progress=progress, desc="train", callback=callback, callback_every=callback_every,
               checkpoint_dir=checkpoint_dir, resume=resume, run_config={"T": schedule.T})


def fit(model: nn.Module, ema: nn.Module, loss_fn: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
        x: torch.Tensor, y: torch.Tensor | None, config: TrainConfig, *, null_label: int | None = None,
        generator: torch.Generator | None = None, progress: bool = True, desc: str | None = None,
        callback: Callable | None = None, callback_every: int = 100, checkpoint_dir: str | Path | None = None,
        resume: bool = False, run_config: dict | None = None) -> TrainResult:
    """The one loop every model trains with: minibatches, label dropout, AdamW with lr_at, clipping, an EMA copy, checkpoints.

    loss_fn(x0_batch, y_batch) -> scalar loss of `model`; `ema` is updated towards `model` with
    config.ema_decay_at(step). Labels are dropped to null_label (default: model.null_label; None keeps them) with
    probability config.p_uncond. torch's global RNG (dropout) is seeded with config.seed inside the loop and
    restored after it; `generator` (default: a fresh one seeded with config.seed) drives batches and dropout of labels.
    With checkpoint_dir, the whole state is written atomically to checkpoint_dir/last.safetensors every
    config.checkpoint_every steps (and at the end) under a lock (a second run on the same directory is refused);
    resume=True continues from it bit-identically, and refuses a state of another run (run_config: the
    caller's own settings, e.g. the schedule's T, recorded beside the config's). A non-finite loss stops training.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a teachkit TrainConfig, got {type(config).__name__}")
    _check_run(callback, callback_every)
    device = next(model.parameters()).device
    gen = generator if generator is not None else torch.Generator(device=device).manual_seed(config.seed)
    null_label = getattr(model, "null_label", None) if null_label is None else null_label
    kw = dict(null_label=null_label, generator=gen, progress=progress, desc=desc or config.objective,
              callback=callback, callback_every=callback_every)
    with seeded(config.seed, device), torch_threads(config.threads):
        if checkpoint_dir is None:
            if resume:
                raise FileNotFoundError("resume=True but there is no training state: no checkpoint_dir was given")
            return _fit(model, ema, loss_fn, x, y, config, None, None, resume=False, **kw)
        ckpt = Path(checkpoint_dir) / "last"
        if resume and not ckpt.with_suffix(".safetensors").exists():
            raise FileNotFoundError(f"resume=True but there is no training state at {ckpt}(.safetensors/.json)")
        settings = {k: v for k, v in config.to_dict().items() if k not in RUN_ONLY}
        fingerprint = run_fingerprint(model, x, y, null_label=null_label, **settings, **(run_config or {}))
        check_writable(checkpoint_dir, "checkpoint_dir")
        with file_lock(ckpt, what=f"the training state {ckpt}"):
            return _fit(model, ema, loss_fn, x, y, config, ckpt, fingerprint, resume=resume, **kw)


def _fit(model, ema, loss_fn, x, y, config: TrainConfig, ckpt: Path | None, fingerprint: dict | None, *, null_label,
         generator, progress, desc, callback, callback_every, resume) -> TrainResult:
    c = config
    device = next(model.parameters()).device
    gen = generator
    opt = torch.optim.AdamW(model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
    x = x.to(device)
    y = y.to(device) if y is not None else None
    N = x.shape[0]
    start, losses, perm, pos = 0, [], None, 0
    if resume:
        start, losses, perm, pos = _load_state(ckpt, model, ema, opt, gen, fingerprint, N, c.batch_size)
        perm = perm.to(device)
    pending: list[torch.Tensor] = []
    t0 = time.perf_counter()
    bar = tqdm(range(start, c.steps), total=c.steps, initial=start, disable=not progress, desc=desc, leave=True)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, c.lr, c.steps, c.warmup, c.lr_decay, c.lr_final)
        # fresh permutation each epoch; batches are index views into the full tensors (no DataLoader)
        if perm is None or pos + c.batch_size > N:
            perm, pos = torch.randperm(N, device=device, generator=gen), 0
        idx = perm[pos:pos + min(c.batch_size, N)]
        pos += c.batch_size
        y_in = None if y is None else y[idx]
        if y_in is not None and null_label is not None:
            y_in = drop_labels(y_in, null_label, c.p_uncond, gen)
        loss = loss_fn(x[idx], y_in)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if c.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), c.grad_clip)
        opt.step()
        ema_update(ema, model, c.ema_decay_at(step))
        pending.append(loss.detach())
        done = step + 1
        saving = ckpt is not None and (done % c.checkpoint_every == 0 or done == c.steps)
        if len(pending) >= 50 or done == c.steps or saving or (callback and done % callback_every == 0):
            # the losses reach the host here (one sync per flush), so this is where divergence is noticed
            chunk = torch.stack(pending).cpu().tolist()
            pending.clear()
            bad = [i for i, v in enumerate(chunk) if not math.isfinite(v)]
            if bad:
                raise FloatingPointError(
                    f"the loss became {chunk[bad[0]]} at step {done - len(chunk) + bad[0] + 1}: training diverged, so "
                    f"nothing more is saved. Lower lr (now {c.lr:g}), keep grad_clip on, or check the data's scale")
            losses.extend(chunk)
            bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.5f}")
        if callback is not None and done % callback_every == 0:
            callback(done, losses, ema)
        if saving:
            _save_state(ckpt, done, model, ema, opt, gen, losses, perm, pos, fingerprint)
    bar.close()
    return TrainResult(ema_model=ema, model=model, losses=losses, steps=c.steps, wall_time_s=time.perf_counter() - t0)
