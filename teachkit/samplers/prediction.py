"""The prediction layer: one place that turns a network's output into eps and x0_hat, and counts network calls.

A model declares what its output means with a `prediction` attribute (set by its constructor and stored in
its checkpoint JSON): "eps" (the noise, DDPM Eq. 11; the default when a callable has no attribute), "v"
(Salimans & Ho 2022, Sec. 4: v = alpha_t eps - sigma_t x_0) or "velocity" (flow matching, sampled by
flow_sample, not here). A distilled consistency student also carries `grid`, the timesteps it was
distilled on; only `distilled_sample` takes it, since its output is a consistency function, not a
diffusion prediction that a solver may query anywhere.

Guidance is one rule, `cfg_combine`, applied to the raw output before it is read: eps and v are both
affine in the output at fixed (x_t, t), so guiding the output is guiding eps and x0_hat.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from ..guidance import check_labels, guided_eps
from ..models.outputs import PREDICTIONS
from ..schedules import NoiseSchedule

__all__ = ["PREDICTIONS", "Prediction", "Denoiser", "prediction_of", "is_student", "model_kind", "eps_and_x0",
           "eval_mode"]


def prediction_of(model) -> str:
    """What `model`'s output is: its `prediction` attribute, "eps" when it has none; a clear error for anything else."""
    prediction = getattr(model, "prediction", "eps")
    if prediction not in PREDICTIONS:
        raise ValueError(f"{type(model).__name__}.prediction={prediction!r} is unknown; a model predicts one of "
                         f"{', '.join(map(repr, PREDICTIONS))}")
    return prediction


def is_student(model) -> bool:
    """True for a distilled consistency student (it carries the timestep `grid` it was distilled on)."""
    return getattr(model, "grid", None) is not None


def model_kind(model) -> str:
    """What a sampler must know to accept a model: "consistency" for a distilled student, else its prediction."""
    return "consistency" if is_student(model) else prediction_of(model)


def eps_and_x0(out: torch.Tensor, x_t: torch.Tensor, alpha_bar_t: float, prediction: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(eps, x0_hat) at x_t from a network output of type `prediction`, with alpha_t = sqrt(alpha_bar_t), sigma_t = sqrt(1 - alpha_bar_t)."""
    alpha_t, sigma_t = math.sqrt(alpha_bar_t), math.sqrt(1.0 - alpha_bar_t)
    if prediction == "eps":
        # DDPM Eq. (4) solved for x_0 (DDIM Eq. 12, "predicted x_0"): x0_hat = (x_t - sigma_t eps) / alpha_t
        return out, (x_t - sigma_t * out) / alpha_t
    if prediction == "v":
        # Salimans & Ho 2022, Sec. 4: x0_hat = alpha_t x_t - sigma_t v,  eps = sigma_t x_t + alpha_t v
        return sigma_t * x_t + alpha_t * out, alpha_t * x_t - sigma_t * out
    raise TypeError(f"a {prediction!r} output cannot be read on a noise schedule; sample a flow model with flow_sample")


@dataclass(frozen=True)
class Prediction:
    """What one (guided) network evaluation at (x_t, t) says: the raw output, and eps and x0_hat read from it."""

    out: torch.Tensor  # the guided network output, in the model's own `prediction`
    eps: torch.Tensor  # (B, ...) the noise in x_t
    x0_hat: torch.Tensor  # (B, ...) the clean-sample prediction


@contextmanager
def eval_mode(model):
    """Put an nn.Module in eval mode for the block and restore its mode after; any other callable is left alone."""
    if not isinstance(model, torch.nn.Module):
        yield
        return
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


class Denoiser:
    """A model, its schedule, the labels and the guidance scale as one callable `den(x_t, t) -> Prediction` that counts calls.

    `nfe` is counted from the rows the network actually saw, divided by the batch: a guided call over the
    labelled and the null halves counts 2 per sample, a plain call 1 (the lessons' count).
    """

    def __init__(self, model, schedule: NoiseSchedule, x_T: torch.Tensor, *, y=None, guidance_scale: float = 1.0,
                 accepts: tuple[str, ...] = ("eps", "v"), sampler: str = "this sampler") -> None:
        if not callable(model):
            raise TypeError(f"model must be callable as model(x_t, t, y=None), got {type(model).__name__}")
        kind = model_kind(model)
        if kind not in accepts:
            if kind == "consistency":
                hint = "it is a distilled student: sample it with distilled_sample on its own grid"
            elif kind == "velocity":
                hint = "it is a flow-matching model: sample it with flow_sample"
            else:
                hint = "use a sampler that reads this prediction (see teachkit.SAMPLERS)"
            raise TypeError(f"{sampler} cannot use {type(model).__name__} (prediction {kind!r}; it takes "
                            f"{', '.join(map(repr, accepts))}): {hint}")
        self.model, self.prediction = model, prediction_of(model)
        self.batch = x_T.shape[0]
        self.y = check_labels(model, y, self.batch, x_T.device)
        self.guidance_scale = guidance_scale
        self.null_label = getattr(model, "null_label", None)
        self.alpha_bar = schedule.alpha_bar.tolist()  # Python floats: scalars enter kernels without a host copy
        self.rows = 0  # network input rows evaluated so far
        self.device = x_T.device

    @property
    def nfe(self) -> int:
        """Network evaluations per sample so far (counted, never computed from a formula)."""
        return self.rows // self.batch

    def _net(self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        first = self.rows == 0
        self.rows += x_t.shape[0]
        out = self.model(x_t, t) if y is None else self.model(x_t, t, y)
        if first and not isinstance(out, torch.Tensor):
            raise TypeError(f"{type(self.model).__name__} returned a {type(out).__name__}, not a tensor: a model returns "
                            "one tensor shaped like x_t (for a tuple or a diffusers output, return out[0] / out.sample)")
        return out

    def __call__(self, x_t: torch.Tensor, t: int) -> Prediction:
        """The guided prediction at integer timestep t (0 .. T-1) for the whole batch."""
        alpha_bar_t = self.alpha_bar[t]
        if alpha_bar_t == 0.0 and self.prediction == "eps":
            raise ValueError(
                "alpha_bar_t = 0 (zero terminal SNR) at a visited timestep: an eps-predictor cannot back out "
                "x0_hat there (DDIM Eq. 12 divides by sqrt(alpha_bar_t)); use a v-prediction model or start below T-1"
            )
        if alpha_bar_t < 1e-20 and self.prediction == "eps":
            raise ValueError(
                f"alpha_bar_t = {alpha_bar_t:.1e} at timestep {t}: an eps-predictor's x0_hat divides by "
                f"sqrt(alpha_bar_t) = {alpha_bar_t ** 0.5:.1e}, which overflows float32 and gives inf/NaN samples; "
                "use a schedule that keeps alpha_bar above 1e-20 (fewer or smaller betas), start at a smaller t, "
                "or a v-prediction model")
        t_batch = torch.full((self.batch,), t, device=self.device, dtype=torch.long)
        first = self.rows == 0
        try:
            out = guided_eps(self._net, x_t, t_batch, self.y, self.guidance_scale, null_label=self.null_label)
        except RuntimeError as err:
            if not first:
                raise
            raise ValueError(
                f"{type(self.model).__name__} rejected x_T of shape {tuple(x_t.shape)} ({err}); "
                "check that x_T has the shape of the data the model was trained on"
            ) from err
        if first and out.shape != x_t.shape:
            raise ValueError(f"{type(self.model).__name__} returned an output of shape {tuple(out.shape)} for x_T of "
                             f"shape {tuple(x_t.shape)}: a {self.prediction}-model must return a tensor shaped like its input")
        eps, x0_hat = eps_and_x0(out, x_t, alpha_bar_t, self.prediction)
        return Prediction(out, eps, x0_hat)
