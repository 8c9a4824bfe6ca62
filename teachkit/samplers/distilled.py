"""Distilled few-step sampling: multistep consistency sampling of a consistency-distilled student (Song et al. 2023; Luo et al. 2023).

The student is the teacher's network (same class, same inputs) whose output is read as v, not eps
(Salimans & Ho 2022, Sec. 4): x0_hat = sqrt(alpha_bar_t) x_t - sqrt(1 - alpha_bar_t) v. Backing x0_hat out
of an eps-prediction divides by sqrt(alpha_bar_t), about 0.0064 at t = 999 on the linear schedule, so eps
errors there grow ~156x; the v form only multiplies by numbers in [0, 1] at every t. It is also Song et
al.'s boundary form f = c_skip x + c_out F (CM Eq. 5) with c_skip = sqrt(alpha_bar_t), c_out = -sqrt(1 - alpha_bar_t),
which go to 1 and 0 as t goes to "clean" (prev = -1, alpha_bar = 1): f(x, clean) = x exactly (CM Eq. 4).
"""
from __future__ import annotations

import torch
from torch import nn

from ..schedules import NoiseSchedule, timesteps
from .core import Trajectory, randn_like, sample_loop, sqrt

__all__ = ["distilled_sample", "consistency_step", "student_x0", "check_student", "STUDENT_PREDICTION"]

# what a distilled student's network output means; load_pretrained / teachkit.distill set `student.prediction`
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


def check_student(student: nn.Module) -> None:
    """A clear TypeError unless `student` is a distilled student (a module whose output is read as v)."""
    if not isinstance(student, nn.Module):
        raise TypeError(f"student must be a torch.nn.Module, got {type(student).__name__}")
    prediction = getattr(student, "prediction", "eps")
    if prediction != STUDENT_PREDICTION:
        raise TypeError(
            f"distilled_sample needs a distilled student (prediction='{STUDENT_PREDICTION}'), but this "
            f"{type(student).__name__} predicts {prediction!r}: sample an eps-model with ddim_sample, or load a student "
            "with load_pretrained('toy-2d-distilled') / make one with teachkit.distill.distill"
        )


@torch.no_grad()
def distilled_sample(student: nn.Module, schedule: NoiseSchedule, x_T: torch.Tensor, steps: int = 4, *,
                     spacing: str = "trailing", y=None, generator: torch.Generator | None = None,
                     record: bool = True, progress: bool = False) -> Trajectory:
    """Multistep consistency sampling (Song et al. 2023, Alg. 1; Luo et al. 2023): one student call per step, nfe == steps.

    Step 1 maps x_T straight to x0_hat = f(x_T, T-1); each later step re-noises x0_hat to the next
    timestep of `spacing` with fresh noise from `generator` and applies f again. The guidance scale was
    fixed at distillation (see the student's info['guidance_scale']): there is no guidance_scale here,
    and y=None asks for the unconditional distribution (the null label).
    """
    check_student(student)
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"schedule must be a teachkit NoiseSchedule (the teacher's), got {type(schedule).__name__}")
    ts = timesteps(schedule.T, steps, spacing)

    def update(x_t, v, alpha_bar_t, alpha_bar_prev):
        # fresh noise for every re-noising step; none for the final step to clean
        noise = randn_like(x_t, generator) if alpha_bar_prev < 1.0 else None
        return consistency_step(x_t, v, alpha_bar_t, alpha_bar_prev, noise=noise)

    # guidance_scale=1.0: one plain call student(x, t, y) per step (the guidance is baked into the weights)
    return sample_loop(student, schedule, x_T, ts, update, y=y, guidance_scale=1.0, record=record,
                       progress=progress, name=f"distilled ({steps} steps)")
