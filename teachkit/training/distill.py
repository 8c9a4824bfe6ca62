"""Consistency distillation of a guided eps-teacher into a few-step student (Song et al. 2023, Alg. 2; Luo et al. 2023, LCM).

One student serves 1, 2, 4 and 8 steps (teachkit.samplers.distilled_sample). The recipe, LCM-style:
- the teacher is the classifier-free-guided eps-model at a fixed scale w (LCM Sec. 4.2, with w fixed
  instead of sampled), so the student needs one network call per step where the teacher needs two;
- the ODE solver is one DDIM step (DDIM Eq. 12) over a skipping interval of the grid
  timesteps(T, intervals, "trailing") (LCM Sec. 4.3), the last interval ending at "clean";
- the target is an EMA copy of the student (CM Eq. 8), and the loss is CM Eq. (7) with squared L2;
- the student starts from the teacher's weights but reads its output as v (see samplers/distilled.py).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from teachkit.guidance import guided_eps
from teachkit.models import MODEL_CLASSES
from teachkit.runtime import pick_device, seeded
from teachkit.samplers.ddim import ddim_step
from teachkit.samplers.distilled import STUDENT_PREDICTION, student_x0
from teachkit.schedules import NoiseSchedule, timesteps
from teachkit.training.config import TrainConfig, config_for
from teachkit.training.loop import TrainResult, _check_data, fit

__all__ = ["distill", "make_student", "distillation_grid", "consistency_distillation_loss"]


def make_student(net: nn.Module, grid: tuple[int, ...]) -> nn.Module:
    """A trainable copy of `net` (usually the teacher: CM Alg. 2 starts from its weights) whose output is read as v
    (Salimans & Ho 2022, Sec. 4), carrying the distillation `grid` it may be sampled on.

    A teachkit model is rebuilt from its config with prediction="v" and the grid (so both go into its checkpoint);
    any other module is deep-copied and given the two attributes.
    """
    grid = tuple(int(t) for t in grid)
    if hasattr(net, "config") and type(net).__name__ in MODEL_CLASSES:
        config = {**net.config, "prediction": STUDENT_PREDICTION, "grid": list(grid)}
        student = type(net)(**config).to(next(net.parameters()).device)
        student.load_state_dict(net.state_dict())
    else:
        student = copy.deepcopy(net)
        student.prediction, student.grid = STUDENT_PREDICTION, grid
    return student.train().requires_grad_(True)


def distillation_grid(T: int, intervals: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(t, s): the grid timesteps t_{n+1} (descending) and each one's target t_n, the next grid point down (-1 = clean) (LCM Sec. 4.3)."""
    if isinstance(intervals, bool) or not isinstance(intervals, int) or intervals < 1:
        raise ValueError(f"intervals={intervals!r}: the ODE grid needs a positive integer number of intervals")
    t = timesteps(T, intervals, "trailing")
    s = torch.cat([t[1:], torch.tensor([-1])])
    return t, s


def consistency_distillation_loss(student: nn.Module, target: nn.Module, teacher: nn.Module, alpha_bar: torch.Tensor,
                                  grid: tuple[torch.Tensor, torch.Tensor], x0: torch.Tensor, y: torch.Tensor | None,
                                  guidance_scale: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """CM Eq. (7): || f_theta(x_t, t) - f_theta-(x_hat_s, s) ||^2, x_hat_s one guided DDIM step of the teacher from x_t (CM Eq. 6)."""
    B, dev = x0.shape[0], x0.device
    grid_t, grid_s = grid
    # (B, 1, ..., 1) views so per-sample scalars broadcast over the sample dimensions
    shape = (-1, *([1] * (x0.ndim - 1)))
    # alpha_bar with alpha_bar_{-1} = 1 ("clean") at index 0
    ab = torch.cat([torch.ones(1, device=dev, dtype=alpha_bar.dtype), alpha_bar])
    # 1. CM Alg. 2: n ~ U{1, ..., N-1}; here t = t_{n+1} on the grid and s = t_n, the next point down
    n = torch.randint(0, grid_t.shape[0], (B,), device=dev, generator=generator)
    t, s = grid_t[n], grid_s[n]
    ab_t, ab_s = ab[t + 1].reshape(shape), ab[s + 1].reshape(shape)
    eps = torch.randn(x0.shape, device=dev, dtype=x0.dtype, generator=generator)
    # 2. DDPM Eq. (4): x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps
    x_t = ab_t.sqrt() * x0 + (1.0 - ab_t).sqrt() * eps
    with torch.no_grad():
        # 3. LCM Sec. 4.2, CFG Eq. (6): the teacher's guided eps at the fixed scale w (null labels: unguided)
        eps_w = guided_eps(teacher, x_t, t, y, guidance_scale) if y is not None else teacher(x_t, t)
        # 4. CM Eq. (6) with the DDIM solver (DDIM Eq. 12, eta = 0): x_hat_s from x_t over one skipping interval
        x_s, _ = ddim_step(x_t, eps_w, ab_t, ab_s)
        # 5. the target f_theta-(x_hat_s, s); at s = -1 (clean) f is the identity (CM Eq. 4)
        v_target = target(x_s, s.clamp(min=0), y)
        f_target = torch.where((s == -1).reshape(shape), x_s, student_x0(x_s, v_target, ab_s))
    # 6. the online student's f_theta(x_t, t)
    f_student = student_x0(x_t, student(x_t, t, y), ab_t)
    # 7. CM Eq. (7) with d = squared L2 and lambda(t_n) = 1, averaged over the batch and the sample dimensions
    return (f_student - f_target).pow(2).mean()


def distill(teacher: nn.Module, schedule: NoiseSchedule, x: torch.Tensor, y: torch.Tensor | None = None, *,
            student: nn.Module | None = None, config: TrainConfig | None = None, progress: bool = True,
            callback: Callable | None = None, callback_every: int = 100, checkpoint_dir: str | Path | None = None,
            resume: bool = False, **settings) -> TrainResult:
    """Consistency distillation (Song et al. 2023, Alg. 2); returns TrainResult(ema_model=the target student to sample, model=the online one).

    `student` is the network to train (default: a copy of the teacher, as in CM Alg. 2); its output is read as v.
    `config` is a TrainConfig (default: default_config("consistency distillation"): steps 2000, batch 256, lr 1e-4);
    keyword `settings` (guidance_scale=, intervals=, target_decay=, steps=, ... any TrainConfig field) replace its fields.
    """
    config = config_for("consistency distillation", config, settings)
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"schedule must be the teacher's teachkit NoiseSchedule, got {type(schedule).__name__}")
    if getattr(teacher, "prediction", "eps") != "eps" or getattr(teacher, "grid", None) is not None:
        raise TypeError("the teacher must be an eps-model (e.g. load_pretrained('toy-2d-cfg')), not a distilled student")
    grid = distillation_grid(schedule.T, config.intervals)
    _check_data(teacher, x, y)
    if student is not None and getattr(student, "num_classes", None) != getattr(teacher, "num_classes", None):
        raise ValueError(f"the student has num_classes={getattr(student, 'num_classes', None)} but the teacher "
                         f"{getattr(teacher, 'num_classes', None)}: both must read the same labels")
    device = pick_device(config.device)
    gen = torch.Generator(device=device).manual_seed(config.seed)
    teacher = teacher.to(device).eval()  # frozen: only ever called under torch.no_grad()
    with seeded(config.seed, device):  # make_student builds a module: its init draws stay inside this call
        student = make_student(teacher if student is None else student.to(device), tuple(grid[0].tolist()))
    # CM Alg. 2: theta- <- theta at the start
    target = copy.deepcopy(student).eval().requires_grad_(False)
    alpha_bar = schedule.alpha_bar.to(device=device, dtype=x.dtype)
    grid = tuple(g.to(device) for g in grid)
    # fit updates the target with config.ema_decay_at(step) = target_decay (CM Eq. 8)
    return fit(student, target,
               lambda x0, y_in: consistency_distillation_loss(student, target, teacher, alpha_bar, grid, x0, y_in,
                                                              config.guidance_scale, gen),
               x, y, config, null_label=getattr(teacher, "null_label", None), generator=gen, progress=progress,
               desc="distill", callback=callback, callback_every=callback_every, checkpoint_dir=checkpoint_dir,
               resume=resume, run_config={"T": schedule.T})
