"""Distilled few-step sampling: multistep consistency sampling of a consistency-distilled student (Song et al. 2023; Luo et al. 2023).

The student is the teacher's network (same class, same inputs) whose output is read as v, not eps
(Salimans & Ho 2022, Sec. 4): x0_hat = sqrt(alpha_bar_t) x_t - sqrt(1 - alpha_bar_t) v. Backing x0_hat out
of an eps-prediction divides by sqrt(alpha_bar_t), about 0.0064 at t = 999 on the linear schedule, so eps
errors there grow sqrt(1 - alpha_bar_t) / sqrt(alpha_bar_t) = 157.4x; the v form only multiplies by numbers in [0, 1] at every t. It is also Song et
al.'s boundary form f = c_skip x + c_out F (CM Eq. 5) with c_skip = sqrt(alpha_bar_t), c_out = -sqrt(1 - alpha_bar_t),
which go to 1 and 0 as t goes to "clean" (prev = -1, alpha_bar = 1): f(x, clean) = x exactly (CM Eq. 4).
"""
from __future__ import annotations

import torch

from ..schedules import NoiseSchedule
from .core import Recorder, Trajectory, check_inputs, randn_like, sqrt
from .prediction import Denoiser, eval_mode, is_student

__all__ = ["distilled_sample", "consistency_step", "student_x0", "check_student", "grid_timesteps", "STUDENT_PREDICTION"]

# what a distilled student's network output means (its `prediction`; its `grid` marks it as a student)
STUDENT_PREDICTION = "v"


def student_x0(x_t: torch.Tensor, v: torch.Tensor, alpha_bar_t) -> torch.Tensor:
    """The consistency function f(x_t, t) = sqrt(alpha_bar_t) x_t - sqrt(1 - alpha_bar_t) v (Salimans & Ho 2022, Sec. 4; CM Eq. 5)."""
    # Salimans & Ho 2022, Sec. 4: v = alpha_t eps - sigma_t x0  =>  x0_hat = alpha_t x_t - sigma_t v,
    # alpha_t = sqrt(alpha_bar_t), sigma_t = sqrt(1 - alpha_bar_t); CM Eq. (5) with c_skip = alpha_t, c_out = -sigma_t
    return sqrt(alpha_bar_t) * x_t - sqrt(1.0 - alpha_bar_t) * v


def consistency_step(x_t: torch.Tensor, v: torch.Tensor, alpha_bar_t, alpha_bar_prev,
                     noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of multistep consistency sampling (CM Alg. 1): x0_hat = f(x_t, t), then re-noise to prev; returns (x_prev, x0_hat)."""
    if v.shape != x_t.shape:
        raise ValueError(f"the student's output v has shape {tuple(v.shape)} but x_t has {tuple(x_t.shape)}: "
                         "a student must return a tensor shaped like its input")
    # 1. CM Alg. 1, line 3 / 6: x0_hat = f_theta(x_t, t) (the v form above)
    x0_hat = student_x0(x_t, v, alpha_bar_t)
    if not isinstance(alpha_bar_prev, torch.Tensor) and alpha_bar_prev >= 1.0:
        # the last step ends at "clean": the sample is the student's x0_hat itself
        return x0_hat, x0_hat
    z = torch.randn_like(x_t) if noise is None else noise
    # 2. CM Alg. 1, line 5, in DDPM's notation (DDPM Eq. 4 at prev): x_prev = sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev) z
    x_prev = sqrt(alpha_bar_prev) * x0_hat + sqrt(1.0 - alpha_bar_prev) * z
    return x_prev, x0_hat


def check_student(student) -> None:
    """A clear TypeError unless `student` is a distilled student (it carries the `grid` it was distilled on)."""
    if not callable(student):
        raise TypeError(f"student must be callable as student(x_t, t, y), got {type(student).__name__}")
    if not is_student(student) or getattr(student, "prediction", "eps") != STUDENT_PREDICTION:
        raise TypeError(
            f"distilled_sample needs a distilled student (prediction='{STUDENT_PREDICTION}' and a distillation `grid`), "
            f"but this {type(student).__name__} predicts {getattr(student, 'prediction', 'eps')!r} with no grid: sample "
            "an eps-model with ddim_sample, or load a student with load_pretrained('toy-2d-distilled') / make one "
            "with teachkit.training.distill.distill"
        )


def grid_timesteps(grid, steps: int) -> list[int]:
    """`steps` timesteps of the student's descending distillation grid: entries floor(k N / steps), k = 0 .. steps-1 (the first is the grid's top)."""
    grid = [int(t) for t in grid]
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise TypeError(f"steps must be an int, got {type(steps).__name__}")
    if not 1 <= steps <= len(grid):
        raise ValueError(
            f"steps={steps}: this student was distilled on a grid of {len(grid)} timesteps ({grid[0]} .. {grid[-1]}), "
            f"so it can take 1 to {len(grid)} steps; it never trained anywhere else"
        )
    return [grid[(k * len(grid)) // steps] for k in range(steps)]


@torch.no_grad()
def distilled_sample(student, schedule: NoiseSchedule, x_T: torch.Tensor, steps: int = 4, *, y=None,
                     generator: torch.Generator | None = None, record: bool = True, progress: bool = False,
                     callback=None) -> Trajectory:
    """Multistep consistency sampling (Song et al. 2023, Alg. 1; Luo et al. 2023) on the student's grid: one call per step, nfe == steps.

    Step 1 maps x_T straight to x0_hat = f(x_T, t_top); each later step re-noises x0_hat to the next
    chosen grid timestep (`grid_timesteps`) with fresh noise from `generator` and applies f again. The
    guidance scale was fixed at distillation (see the student's info['guidance_scale']): there is no
    guidance_scale here, and y=None asks for the unconditional distribution (the null label).
    """
    check_student(student)
    check_inputs(student, schedule, x_T, 1.0)
    ts = grid_timesteps(student.grid, steps)
    if ts[0] >= schedule.T:
        raise ValueError(f"the student's grid starts at t={ts[0]} but the schedule has T={schedule.T}: "
                         "sample it with its teacher's schedule")
    # guidance_scale=1.0: one plain call student(x, t, y) per step (the guidance is baked into the weights)
    den = Denoiser(student, schedule, x_T, y=y, guidance_scale=1.0, accepts=("consistency",), sampler="distilled_sample")
    rec = Recorder(x_T, ts, record=record, progress=progress, callback=callback, name="Distilled")
    alpha_bar, x = den.alpha_bar, x_T
    with eval_mode(student):
        for i, t, prev in rec.pairs():
            # 1. CM Alg. 1: the student's output v at (x_t, t)
            v = den(x, t).out
            # 2. x0_hat = f(x_t, t), re-noised to prev with fresh noise (none for the final step to clean)
            ab_prev = 1.0 if prev == -1 else alpha_bar[prev]
            noise = randn_like(x, generator) if ab_prev < 1.0 else None
            x, x0_hat = consistency_step(x, v, alpha_bar[t], ab_prev, noise=noise)
            rec.step(i, t, x, x0_hat)
    return rec.trajectory(x, den.nfe)
