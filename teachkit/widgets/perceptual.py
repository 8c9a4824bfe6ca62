"""A two-alternative perceptual study: a real and a generated digit side by side, the student clicks the real one.

After N trials it reports, per condition (sampler and step count), the student's accuracy against chance
(0.5) with an exact binomial interval (teachkit.metrics.stats, scipy underneath). HYPE (Zhou et al. 2019)
runs the same kind of two-choice test with crowd workers. Without a browser the study is scripted: `run(student)`
calls `student(left, right)` for every trial, so tests and lessons can measure a machine "student" too.
"""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from typing import Callable

import ipywidgets as W
import numpy as np
import torch

from ..metrics.stats import binomial_p_value, rate_with_ci

__all__ = ["Trial", "make_trials", "score_answers", "PerceptualStudy"]

SIDES = ("left", "right")


@dataclass(frozen=True)
class Trial:
    """One pair: which condition the generated digit comes from, which digits, and where the real one is."""

    condition: str
    real_index: int
    generated_index: int
    real_side: str


def _check_images(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of images (N, 1, H, W) in [-1, 1], got {type(x).__name__}")
    if x.ndim != 4 or x.shape[0] < 1:
        raise ValueError(f"{name} must be a non-empty batch of images (N, 1, H, W), got shape {tuple(x.shape)}")
    return x.detach().cpu().clamp(-1.0, 1.0)


def make_trials(n_real: int, n_generated: dict[str, int], per_condition: int, seed: int = 0) -> list[Trial]:
    """per_condition trials for every condition, in a shuffled order, each with a random real and generated digit and side."""
    if per_condition < 1:
        raise ValueError(f"per_condition={per_condition}: a study needs at least one trial per condition")
    if not n_generated:
        raise ValueError("a study needs at least one condition, e.g. {'DDIM-50': samples}")
    rng = np.random.default_rng(seed)
    trials = []
    for condition, n in n_generated.items():
        # without replacement while the pool lasts, so a short study shows each digit at most once
        gen_idx = rng.permutation(np.resize(rng.permutation(n), per_condition)) if n else []
        for g in gen_idx:
            trials.append(Trial(condition, int(rng.integers(n_real)), int(g), SIDES[int(rng.integers(2))]))
    order = rng.permutation(len(trials))
    return [trials[i] for i in order]


def score_answers(trials: list[Trial], answers: list[str]) -> dict[str, dict]:
    """Per condition: correct picks k of n, the accuracy with its exact 95 % interval, and the p-value against chance."""
    if len(answers) > len(trials):
        raise ValueError(f"{len(answers)} answers for {len(trials)} trials")
    out: dict[str, dict] = {}
    for condition in dict.fromkeys(t.condition for t in trials):
        picks = [a == t.real_side for t, a in zip(trials, answers) if t.condition == condition]
        if not picks:
            continue
        k, n = int(sum(picks)), len(picks)
        out[condition] = {**rate_with_ci(k, n), "p_value_vs_chance": binomial_p_value(k, n, 0.5)}
    return out


def _png(image: torch.Tensor, zoom: int) -> bytes:
    """A (1, H, W) image in [-1, 1] as a zoomed grey PNG (nearest-neighbour, so pixels stay pixels)."""
    from PIL import Image

    a = ((image[0].numpy() + 1.0) * 127.5).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).resize((a.shape[1] * zoom, a.shape[0] * zoom), Image.NEAREST).save(buf, format="PNG")
    return buf.getvalue()


class PerceptualStudy(W.VBox):
    """Real-or-generated, one pair at a time: click the digit you think is real; `results()` after the last trial.

    `generated` maps a condition name ("DDIM-10", "DDPM-1000") to its samples; `per_condition` trials each.
    """

    def __init__(self, real: torch.Tensor, generated: dict[str, torch.Tensor], *, per_condition: int = 10,
                 seed: int = 0, zoom: int = 5) -> None:
        super().__init__()
        self.real = _check_images(real, "real")
        if not isinstance(generated, dict) or not generated:
            raise ValueError("generated must be a non-empty dict {condition name: samples (N, 1, H, W)}")
        self.generated = {str(k): _check_images(v, f"generated[{k!r}]") for k, v in generated.items()}
        for k, v in self.generated.items():
            if v.shape[1:] != self.real.shape[1:]:
                raise ValueError(f"generated[{k!r}] has images {tuple(v.shape[1:])}, real ones {tuple(self.real.shape[1:])}")
        self.zoom = int(zoom)
        self.trials = make_trials(len(self.real), {k: len(v) for k, v in self.generated.items()}, per_condition, seed)
        self.answers: list[str] = []
        self.images = {side: W.Image(format="png") for side in SIDES}
        self.buttons = {side: W.Button(description=f"{side} is real", tooltip=f"the {side} digit is the real one")
                        for side in SIDES}
        for side, button in self.buttons.items():
            button.add_class(f"teachkit-{side}")
            button.on_click(lambda _, side=side: self.choose(side))
        self.progress = W.HTML("")
        self.report = W.HTML("")
        self.children = [self.progress,
                         W.HBox([W.VBox([self.images[s], self.buttons[s]]) for s in SIDES]),
                         self.report]
        self._show()

    @property
    def done(self) -> bool:
        """True once every trial is answered."""
        return len(self.answers) == len(self.trials)

    def pair(self, i: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(left, right) images (1, H, W) of trial i (default: the current one)."""
        t = self.trials[len(self.answers) if i is None else i]
        real, fake = self.real[t.real_index], self.generated[t.condition][t.generated_index]
        return (real, fake) if t.real_side == "left" else (fake, real)

    def choose(self, side: str) -> None:
        """Record the student's pick ("left" or "right") for the current trial and show the next pair."""
        if side not in SIDES:
            raise ValueError(f"side={side!r}: click 'left' or 'right'")
        if self.done:
            raise ValueError(f"all {len(self.trials)} trials are answered; see results()")
        self.answers.append(side)
        self._show()

    def run(self, student: Callable[[torch.Tensor, torch.Tensor], str]) -> dict[str, dict]:
        """Answer every remaining trial with student(left, right) -> "left" | "right" (a scripted student)."""
        while not self.done:
            self.choose(student(*self.pair()))
        return self.results()

    def results(self) -> dict[str, dict]:
        """Per condition: accuracy of the answers so far, its 95 % interval, the p-value against chance (0.5)."""
        return score_answers(self.trials, self.answers)

    def summary(self) -> str:
        """The results as a small text table, one row per condition."""
        rows = [f"{'condition':<14} {'correct':>8} {'accuracy':>9}  95% CI          p vs chance"]
        for condition, r in self.results().items():
            rows.append(f"{condition:<14} {r['k']:>4}/{r['n']:<3} {r['rate']:>9.2f}  [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"
                        f"    {r['p_value_vs_chance']:.3f}")
        return "\n".join(rows)

    def _show(self) -> None:
        n = len(self.trials)
        if self.done:
            for side in SIDES:
                self.buttons[side].disabled = True
            self.progress.value = f"<b>done: {n} trials</b>"
            self.report.value = f"<pre>{html.escape(self.summary())}</pre>"
            return
        for side, image in zip(SIDES, self.pair()):
            self.images[side].value = _png(image, self.zoom)
        self.progress.value = f"trial {len(self.answers) + 1} of {n}: which digit is real?"
        if self.answers:
            self.report.value = f"<pre>{html.escape(self.summary())}</pre>"

    def _repr_mimebundle_(self, **kwargs):
        bundle = dict(super()._repr_mimebundle_(**kwargs))
        if not self.done:
            # viewers without a kernel see the current pair as one still picture
            left, right = self.pair()
            bundle["image/png"] = base64.b64encode(_png(torch.cat([left, right], dim=-1), self.zoom)).decode("ascii")
        return bundle
