"""TrainConfig: every setting of one training run, validated once, stored whole in the checkpoint JSON.

One frozen dataclass serves the four objectives the one loop (teachkit.training.fit) trains: the DDPM
eps-loss (Ho et al. 2020), consistency distillation (Song et al. 2023), flow matching (Lipman et al.
2022) and the metric classifier's cross-entropy. `dataclasses.replace(config, steps=...)` makes a
changed copy (checked again); `to_dict()` / `from_dict()` round-trip it through JSON.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

__all__ = ["TrainConfig", "OBJECTIVES", "default_config", "with_settings", "config_for", "RUN_ONLY"]

OBJECTIVES = ("ddpm", "consistency distillation", "flow matching", "classification")

# fields that say where and how fast a run goes, not what it learns: a resumed run may change them
RUN_ONLY = ("device", "threads", "checkpoint_every")

# each objective's defaults where they differ from the field defaults below
_OBJECTIVE_DEFAULTS = {
    "ddpm": {},
    "flow matching": {},
    "consistency distillation": dict(steps=2000, batch_size=256, lr=1e-4),
    # the metric classifier: AdamW with weight decay, cosine to 0, no warmup, no clipping, no labels dropped,
    # no EMA (ema_decay 0: the EMA copy equals the model)
    "classification": dict(steps=2000, batch_size=128, lr=2e-3, weight_decay=1e-4, ema_decay=0.0, warmup=0,
                           lr_final=0.0, grad_clip=None, p_uncond=0.0),
}


def _integer(name: str, value, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}={value} must be >= {minimum}")


def _real(name: str, value, low: float, high: float, *, low_open: bool = False, high_open: bool = False,
          what: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if not math.isfinite(value) or too_low or too_high:
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name}={value} must lie in {lo}{low:g}, {high:g}{hi}{what}")


@dataclass(frozen=True)
class TrainConfig:
    """The settings of one training run (defaults: the DDPM objective's; default_config(objective) gives another's)."""

    objective: str = "ddpm"
    steps: int = 1000
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    # EMA of the weights with warmup, min(ema_decay, (1 + step) / (10 + step)); 0 = the EMA copy equals the model
    ema_decay: float = 0.999
    warmup: int = 100
    lr_decay: str = "cosine"
    # the cosine decay ends at lr_final * lr
    lr_final: float = 0.1
    grad_clip: float | None = 1.0
    # CFG label dropout: the probability of replacing a label by the null label (Ho & Salimans 2022)
    p_uncond: float = 0.1
    seed: int = 0
    device: str | None = None
    threads: int | None = None
    checkpoint_every: int = 500
    # consistency distillation only (CM Alg. 2, LCM): the teacher's fixed guidance scale w, the ODE grid's
    # number of skipping intervals, and the EMA rate mu of the target network (CM Eq. 8)
    guidance_scale: float = 1.0
    intervals: int = 40
    target_decay: float = 0.95

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective={self.objective!r}; choose one of {', '.join(map(repr, OBJECTIVES))}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps={self.steps!r}: training needs a positive integer number of steps")
        _integer("batch_size", self.batch_size)
        _real("lr", self.lr, 0.0, math.inf, low_open=True, high_open=True, what=": the learning rate must be positive")
        _real("weight_decay", self.weight_decay, 0.0, math.inf, high_open=True)
        _real("ema_decay", self.ema_decay, 0.0, 1.0, high_open=True,
              what=": the EMA keeps this share of its weights each step")
        _integer("warmup", self.warmup, minimum=0)
        if self.lr_decay not in ("cosine", "constant"):
            raise ValueError(f"lr_decay={self.lr_decay!r}; choose 'cosine' or 'constant'")
        _real("lr_final", self.lr_final, 0.0, 1.0, what=": the share of lr the cosine decay ends at")
        if self.grad_clip is not None:
            _real("grad_clip", self.grad_clip, 0.0, math.inf, low_open=True, high_open=True,
                  what=": the largest gradient norm kept (None turns clipping off)")
        _real("p_uncond", self.p_uncond, 0.0, 1.0, high_open=True, what=": it is the probability of dropping a label")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise TypeError(f"seed must be an integer, got {self.seed!r}")
        if self.device is not None and not isinstance(self.device, str):
            if type(self.device).__name__ != "device":
                raise TypeError(f"device must be a string such as 'cpu' or 'cuda', or None; got {self.device!r}")
            object.__setattr__(self, "device", str(self.device))  # a torch.device is stored as its name
        if self.threads is not None:
            _integer("threads", self.threads)
        _integer("checkpoint_every", self.checkpoint_every)
        if isinstance(self.guidance_scale, bool) or not isinstance(self.guidance_scale, (int, float)) \
                or not math.isfinite(self.guidance_scale):
            raise TypeError(f"guidance_scale must be a finite real number (1 = the plain conditional teacher), "
                            f"got {self.guidance_scale!r}")
        if isinstance(self.intervals, bool) or not isinstance(self.intervals, int) or self.intervals < 1:
            raise ValueError(f"intervals={self.intervals!r}: the ODE grid needs a positive integer number of intervals")
        if isinstance(self.target_decay, bool) or not isinstance(self.target_decay, (int, float)) \
                or not 0.0 <= self.target_decay < 1.0:
            raise ValueError(f"target_decay={self.target_decay}: the EMA rate mu of CM Eq. (8) must lie in [0, 1)")
        for name in ("lr", "weight_decay", "ema_decay", "lr_final", "p_uncond", "guidance_scale", "target_decay"):
            object.__setattr__(self, name, float(getattr(self, name)))  # 1 and 1.0 are one setting, in JSON too
        if self.grad_clip is not None:
            object.__setattr__(self, "grad_clip", float(self.grad_clip))

    def ema_decay_at(self, step: int) -> float:
        """The EMA rate used after `step`: the distillation target's fixed mu (CM Eq. 8), else ema_decay with warmup."""
        if self.objective == "consistency distillation":
            # CM Eq. (8): theta- <- stopgrad(mu theta- + (1 - mu) theta)
            return self.target_decay
        if self.ema_decay == 0.0:
            return 0.0
        # EMA with warmup: decay_eff = min(decay, (1 + step) / (10 + step))
        return min(self.ema_decay, (1 + step) / (10 + step))

    def to_dict(self) -> dict:
        """Every field, JSON-able (what a checkpoint records under "train_config")."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """The config a checkpoint's "train_config" records; unknown fields are refused, missing ones take the defaults."""
        if not isinstance(data, dict):
            raise ValueError(f"a train_config must be a dict of TrainConfig fields, got {type(data).__name__}")
        if _unknown(data):
            raise ValueError(f"unknown train_config fields {_unknown(data)}; TrainConfig has {_FIELDS}")
        return cls(**data)

    def changed(self) -> dict:
        """The fields that differ from its objective's defaults (steps and batch_size always): a short summary."""
        base = default_config(self.objective).to_dict()
        return {k: v for k, v in self.to_dict().items()
                if k in ("steps", "batch_size") or (k != "objective" and v != base[k])}


_FIELDS = [f.name for f in dataclasses.fields(TrainConfig)]


def _unknown(names) -> list[str]:
    return sorted(set(names) - set(_FIELDS))


def default_config(objective: str = "ddpm", **settings) -> TrainConfig:
    """The TrainConfig of `objective` with its own defaults (e.g. distillation's lr 1e-4), then `settings` applied."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective={objective!r}; choose one of {', '.join(map(repr, OBJECTIVES))}")
    return with_settings(TrainConfig(objective=objective, **_OBJECTIVE_DEFAULTS[objective]), settings)


def with_settings(config: TrainConfig, settings: dict) -> TrainConfig:
    """dataclasses.replace(config, **settings) with a teaching TypeError for a name TrainConfig does not have."""
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a teachkit TrainConfig, got {type(config).__name__}")
    if _unknown(settings):
        raise TypeError(f"unknown training setting(s) {', '.join(_unknown(settings))}; a TrainConfig has "
                        f"{', '.join(_FIELDS)}")
    return dataclasses.replace(config, **settings) if settings else config


def config_for(objective: str, config: TrainConfig | None, settings: dict) -> TrainConfig:
    """The config a training function runs: `config` (default: the objective's defaults) with keyword `settings` applied."""
    base = default_config(objective) if config is None else config
    if isinstance(base, TrainConfig) and base.objective != objective:
        raise ValueError(f"config.objective is {base.objective!r}, but this function trains {objective!r}; "
                         f"use default_config({objective!r}, ...) or dataclasses.replace(config, objective=...)")
    return with_settings(base, settings)
