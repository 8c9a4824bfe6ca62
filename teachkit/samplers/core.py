"""What every sampler shares: the Trajectory it returns, input checks, and the outer denoising loop."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from ..guidance import check_labels, guidance_passes, guided_eps
from ..schedules import NoiseSchedule

__all__ = ["Trajectory", "sample_loop", "randn_like", "sqrt", "check_eta"]


@dataclass(frozen=True)
class Trajectory:
    """A sampling run: the final sample, and (when recorded) every x_t and x0_hat along the way."""

    sample: torch.Tensor  # (B, ...) the final x_0
    timesteps: torch.Tensor  # (S,) the timesteps visited, descending; the last step goes to "clean"
    nfe: int  # network evaluations per sample (a guided step counts 2)
    xs: torch.Tensor | None = None  # (S + 1, B, ...) x_T first, the final sample last
    x0_hats: torch.Tensor | None = None  # (S, B, ...) the clean-sample prediction at each step
    sampler: str = ""

    @property
    def steps(self) -> int:
        """Number of sampler steps S."""
        return int(self.timesteps.shape[0])


def sqrt(v):
    """Square root of a Python float or a tensor (step functions accept both)."""
    return math.sqrt(v) if isinstance(v, (int, float)) else torch.sqrt(v)


def randn_like(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal noise shaped like x, on x's device, drawn from `generator` wherever it lives."""
    if generator is None:
        return torch.randn_like(x)
    noise = torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype)
    return noise.to(x.device)


def check_eta(eta: float) -> float:
    """eta must be a real number in [0, 1] (DDIM Eq. 16: 0 deterministic, 1 DDPM-like)."""
    if isinstance(eta, bool) or not isinstance(eta, (int, float)):
        raise TypeError(f"eta must be a float in [0, 1], got {type(eta).__name__}")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta={eta} is outside [0, 1]: 0 is deterministic DDIM, 1 has DDPM's variance")
    return float(eta)


def _check_inputs(model, schedule, x_T, guidance_scale) -> None:
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"schedule must be a teachkit NoiseSchedule, got {type(schedule).__name__}")
    if not isinstance(x_T, torch.Tensor):
        raise TypeError(f"x_T must be a torch.Tensor, got {type(x_T).__name__}")
    if not x_T.is_floating_point():
        raise TypeError(f"x_T must be a floating-point tensor, got dtype {x_T.dtype}")
    if x_T.ndim < 2 or x_T.shape[0] < 1:
        raise ValueError(f"x_T must be a batch (B, ...) with B >= 1, got shape {tuple(x_T.shape)}")
    expected = getattr(model, "sample_shape", None)
    if expected is not None and tuple(x_T.shape[1:]) != tuple(expected):
        raise ValueError(
            f"x_T has sample shape {tuple(x_T.shape[1:])} but {type(model).__name__} expects "
            f"{tuple(expected)}: make x_T with shape (B, {', '.join(map(str, expected))})"
        )
    if not bool(torch.isfinite(x_T).all()):  # one check before the loop, never inside it
        raise ValueError("x_T contains NaN or inf: start from finite Gaussian noise, e.g. torch.randn")
    if isinstance(guidance_scale, bool) or not isinstance(guidance_scale, (int, float)) \
            or not math.isfinite(guidance_scale):
        raise TypeError(f"guidance_scale must be a finite real number, got {guidance_scale!r}")


def _first_eps(model, x, t_batch, y, guidance_scale) -> torch.Tensor:
    """The first network call, with a clear message when the model rejects x_T's shape."""
    try:
        eps = guided_eps(model, x, t_batch, y, guidance_scale)
    except RuntimeError as err:
        raise ValueError(
            f"{type(model).__name__} rejected x_T of shape {tuple(x.shape)} ({err}); "
            "check that x_T has the shape of the data the model was trained on"
        ) from err
    if eps.shape != x.shape:
        raise ValueError(f"{type(model).__name__} returned eps of shape {tuple(eps.shape)} for x_T of shape "
                         f"{tuple(x.shape)}: an eps-predictor must return noise shaped like its input")
    return eps


# update(x_t, eps, alpha_bar_t, alpha_bar_prev) -> (x_prev, x0_hat); alpha_bars are Python floats
Update = Callable[[torch.Tensor, torch.Tensor, float, float], tuple]


def sample_loop(model: torch.nn.Module, schedule: NoiseSchedule, x_T: torch.Tensor, ts: torch.Tensor,
                update: Update, *, y=None, guidance_scale: float = 1.0, record: bool = True,
                progress: bool = False, name: str = "") -> Trajectory:
    """Run x_T down the timesteps `ts` (then to clean), predicting eps and applying `update` at each step."""
    _check_inputs(model, schedule, x_T, guidance_scale)
    y = check_labels(model, y, x_T.shape[0], x_T.device)
    ts_list = [int(t) for t in ts.tolist()]  # CPU list: no device sync inside the loop
    prevs = ts_list[1:] + [-1]  # "prev" is the next visited timestep, never a fixed stride
    alpha_bar = schedule.alpha_bar.tolist()  # Python floats: scalars enter kernels without a host copy
    if any(alpha_bar[t] == 0.0 for t in ts_list):
        raise ValueError(
            "alpha_bar_t = 0 (zero terminal SNR) at a visited timestep: an eps-predictor cannot back out "
            "x0_hat there (DDIM Eq. 12 divides by sqrt(alpha_bar_t)); use a v-prediction model or start below T-1"
        )
    batch = x_T.shape[0]
    x = x_T
    xs, x0_hats = [x_T], []
    pairs = list(zip(ts_list, prevs))
    if progress:
        from tqdm.auto import tqdm
        pairs = tqdm(pairs, desc=name or "sampling", leave=False)
    was_training = model.training
    model.eval()
    try:
        for i, (t, prev) in enumerate(pairs):
            t_batch = torch.full((batch,), t, device=x.device, dtype=torch.long)
            # 1. predict the noise (guided: one batched pass over the labelled and null halves)
            if i == 0:
                eps = _first_eps(model, x, t_batch, y, guidance_scale)
            else:
                eps = guided_eps(model, x, t_batch, y, guidance_scale)
            # 2. the sampler's update from t to prev (prev = -1 means clean, alpha_bar = 1)
            ab_prev = 1.0 if prev == -1 else alpha_bar[prev]
            x, x0_hat = update(x, eps, alpha_bar[t], ab_prev)
            if record:
                xs.append(x)
                x0_hats.append(x0_hat)
    finally:
        model.train(was_training)
    nfe = len(ts_list) * guidance_passes(y, guidance_scale)
    return Trajectory(
        sample=x,
        timesteps=torch.tensor(ts_list, dtype=torch.long),
        nfe=nfe,
        xs=torch.stack(xs) if record else None,
        x0_hats=torch.stack(x0_hats) if record else None,
        sampler=name,
    )
