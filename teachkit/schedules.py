"""Noise schedules, the forward process q(x_t | x_0) and timestep spacings (Ho et al. 2020, DDPM)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = [
    "NoiseSchedule",
    "karras_timesteps",
    "linear_schedule",
    "cosine_schedule",
    "scaled_linear_schedule",
    "rescale_zero_terminal_snr",
    "timesteps",
    "SPACINGS",
]

SPACINGS = ("leading", "trailing", "linspace")


@dataclass(frozen=True)
class NoiseSchedule:
    """A discrete variance schedule beta_1..beta_T and the quantities derived from it (DDPM Sec. 2)."""

    betas: torch.Tensor
    name: str = "custom"
    alphas: torch.Tensor = field(init=False, repr=False)
    alpha_bar: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        betas = self.betas
        if not isinstance(betas, torch.Tensor):
            betas = torch.as_tensor(np.asarray(betas, dtype=np.float64))
        if betas.ndim != 1 or betas.numel() < 1:
            raise ValueError(f"betas must have shape (T,) with T >= 1, got shape {tuple(betas.shape)}")
        betas = betas.detach().to("cpu", torch.float64)
        if not torch.isfinite(betas).all():
            raise ValueError("betas contain NaN or inf")
        # Every beta must lie in (0, 1); only the last may equal 1 (zero terminal SNR, Lin et al. 2023).
        inner_ok = bool(((betas[:-1] > 0) & (betas[:-1] < 1)).all())
        last_ok = bool(0 < betas[-1] <= 1)
        if not (inner_ok and last_ok):
            raise ValueError(
                f"betas must lie in (0, 1) (the last may be exactly 1 for zero terminal SNR); "
                f"got min {betas.min().item():.3g}, max {betas.max().item():.3g}"
            )
        object.__setattr__(self, "betas", betas)
        # DDPM Sec. 2: alpha_t = 1 - beta_t
        alphas = 1.0 - betas
        object.__setattr__(self, "alphas", alphas)
        # DDPM Eq. (4): alpha_bar_t = prod_{s <= t} alpha_s
        object.__setattr__(self, "alpha_bar", torch.cumprod(alphas, dim=0))

    @property
    def T(self) -> int:
        """Number of training timesteps."""
        return int(self.betas.shape[0])

    def __len__(self) -> int:
        return self.T

    def alpha_bar_at(self, t):
        """alpha_bar at timestep t (int or LongTensor); t == -1 means clean, where alpha_bar = 1."""
        t = _integer_t(t)
        if isinstance(t, torch.Tensor):
            t_cpu = t.detach().to("cpu", torch.long)
            self._check_t(t_cpu)
            padded = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bar])
            return padded[t_cpu + 1].to(t.device)
        t = int(t)
        self._check_t(torch.tensor([t]))
        return 1.0 if t == -1 else float(self.alpha_bar[t])

    def _check_t(self, t: torch.Tensor) -> None:
        if t.numel() and (int(t.min()) < -1 or int(t.max()) >= self.T):
            raise ValueError(
                f"timestep out of range: got [{int(t.min())}, {int(t.max())}], "
                f"allowed 0 .. {self.T - 1} (or -1 for clean)"
            )

    def q_sample(self, x0: torch.Tensor, t, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Draw x_t ~ q(x_t | x_0) (DDPM Eq. 4); t is an int or a LongTensor of shape (B,)."""
        t = _integer_t(t)
        if noise is None:
            noise = torch.randn_like(x0)
        if noise.shape != x0.shape:
            raise ValueError(f"noise shape {tuple(noise.shape)} != x0 shape {tuple(x0.shape)}")
        if isinstance(t, torch.Tensor) and t.ndim == 1:
            if t.shape[0] != x0.shape[0]:
                raise ValueError(f"t has {t.shape[0]} entries but x0 has batch size {x0.shape[0]}")
            # (B, 1, ..., 1) so it broadcasts over the sample dimensions
            ab = self.alpha_bar_at(t).to(device=x0.device, dtype=x0.dtype)
            ab = ab.reshape(-1, *([1] * (x0.ndim - 1)))
            sqrt_ab, sqrt_one_minus_ab = ab.sqrt(), (1.0 - ab).sqrt()
        else:
            ab = self.alpha_bar_at(int(t))
            sqrt_ab, sqrt_one_minus_ab = math.sqrt(ab), math.sqrt(1.0 - ab)
        # DDPM Eq. (4): x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps
        return sqrt_ab * x0 + sqrt_one_minus_ab * noise

    def snr(self, t=None) -> torch.Tensor:
        """Signal-to-noise ratio alpha_bar_t / (1 - alpha_bar_t) (Kingma et al. 2021), all t if None."""
        ab = self.alpha_bar if t is None else torch.as_tensor(self.alpha_bar_at(t), dtype=torch.float64)
        return ab / (1.0 - ab)

    def log_snr(self, t=None) -> torch.Tensor:
        """log SNR = 2 * lambda, where lambda = log(alpha_t / sigma_t) (DPM-Solver's half log-SNR)."""
        return torch.log(self.snr(t))


def _integer_t(t):
    """t as an int or an integer tensor; a fractional float (10.7) or a float tensor is an error, not truncated."""
    if isinstance(t, torch.Tensor):
        if t.dtype.is_floating_point or t.is_complex() or t.dtype == torch.bool:
            raise TypeError(f"t must hold integer timesteps 0 .. T-1, got a {t.dtype} tensor; use t.long() "
                            "(after rounding, if you meant the nearest timestep)")
        return t
    if isinstance(t, bool) or not isinstance(t, (int, np.integer, float, np.floating)):
        raise TypeError(f"t must be an integer timestep or a LongTensor, got {type(t).__name__}")
    if isinstance(t, (float, np.floating)):
        if not float(t).is_integer():
            raise ValueError(f"t={t} is not an integer timestep; timesteps are 0 .. T-1 (use round(t) on purpose)")
        return int(t)
    return int(t)


def _check_beta(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
        raise ValueError(f"{name}={value!r} must be a number in (0, 1): a beta is the variance added at one step")


def _check_T(T: int) -> None:
    if not isinstance(T, (int, np.integer)) or isinstance(T, bool) or T < 1:
        raise ValueError(f"T must be a positive integer, got {T!r}")


def linear_schedule(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> NoiseSchedule:
    """Betas linear in t from beta_start to beta_end (DDPM Sec. 4)."""
    _check_T(T)
    _check_beta("beta_start", beta_start)
    _check_beta("beta_end", beta_end)
    # DDPM Sec. 4: beta_t = linspace(beta_1, beta_T)
    betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
    return NoiseSchedule(betas, name="linear")


def scaled_linear_schedule(T: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012) -> NoiseSchedule:
    """Betas whose square roots are linear in t (Stable Diffusion's schedule)."""
    _check_T(T)
    _check_beta("beta_start", beta_start)
    _check_beta("beta_end", beta_end)
    # beta_t = linspace(sqrt(beta_1), sqrt(beta_T))^2
    betas = torch.linspace(math.sqrt(beta_start), math.sqrt(beta_end), T, dtype=torch.float64) ** 2
    return NoiseSchedule(betas, name="scaled_linear")


def cosine_schedule(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> NoiseSchedule:
    """alpha_bar(t) = cos^2(((t/T + s) / (1 + s)) * pi/2), betas capped at max_beta (Nichol & Dhariwal 2021, Eq. 17)."""
    _check_T(T)
    if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0.0 <= s < 1.0:
        raise ValueError(f"s={s!r} must be a number in [0, 1): the small offset of Improved DDPM Eq. (17) (default 0.008)")
    if isinstance(max_beta, bool) or not isinstance(max_beta, (int, float)) or not 0.0 < max_beta <= 1.0:
        raise ValueError(f"max_beta={max_beta!r} must be a number in (0, 1]: the cap on each beta (default 0.999)")

    def f(u: np.ndarray) -> np.ndarray:
        # Improved DDPM Eq. (17): f(t) = cos^2(((t/T + s) / (1 + s)) * pi / 2)
        return np.cos((u + s) / (1 + s) * math.pi / 2) ** 2

    i = np.arange(T, dtype=np.float64)
    # Improved DDPM Sec. 3.2: beta_t = 1 - alpha_bar_t / alpha_bar_{t-1}, clipped to max_beta
    betas = np.minimum(1.0 - f((i + 1) / T) / f(i / T), max_beta)
    return NoiseSchedule(torch.from_numpy(betas), name="cosine")


def rescale_zero_terminal_snr(schedule: NoiseSchedule) -> NoiseSchedule:
    """Shift and scale sqrt(alpha_bar) so that alpha_bar_T = 0 exactly (Lin et al. 2023, Algorithm 1)."""
    sqrt_ab = schedule.alpha_bar.sqrt()
    first, last = sqrt_ab[0].clone(), sqrt_ab[-1].clone()
    # Lin et al. Alg. 1: shift so the last value is zero, then scale so the first is unchanged
    sqrt_ab = (sqrt_ab - last) * first / (first - last)
    alpha_bar = sqrt_ab**2
    # alpha_t = alpha_bar_t / alpha_bar_{t-1}
    alphas = torch.cat([alpha_bar[:1], alpha_bar[1:] / alpha_bar[:-1]])
    return NoiseSchedule(1.0 - alphas, name=f"{schedule.name}+zero_snr")


def timesteps(T: int, steps: int, spacing: str = "trailing") -> torch.LongTensor:
    """The descending timesteps a `steps`-step sampler visits (spacings as diffusers defines them; Lin et al. 2023, Table 2)."""
    _check_T(T)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise TypeError(f"steps must be an int, got {type(steps).__name__}")
    if steps < 1:
        raise ValueError(f"steps={steps}: a sampler needs at least one step (1 <= steps <= T={T})")
    if steps > T:
        raise ValueError(f"steps={steps} > T={T}: a sampler cannot visit more timesteps than were trained")
    k = np.arange(steps, dtype=np.float64)
    if spacing == "leading":
        # every (T // steps)-th timestep counted up from 0: 0, r, 2r, ...
        ts = k * (T // steps)
    elif spacing == "trailing":
        # counted down from T: round(T - k T / steps) - 1, so the first step starts at T - 1
        ts = np.round(T - k * T / steps) - 1
        return torch.from_numpy(ts.astype(np.int64))
    elif spacing == "linspace":
        # evenly spaced over [0, T - 1], both ends included
        ts = np.round(np.linspace(0, T - 1, steps))
    else:
        raise ValueError(f"unknown spacing {spacing!r}; choose one of {', '.join(SPACINGS)}")
    return torch.from_numpy(ts[::-1].astype(np.int64).copy())


def karras_timesteps(schedule: "NoiseSchedule", steps: int, rho: float = 7.0) -> torch.LongTensor:
    """EDM's sigma spacing (Karras et al. 2022, Eq. 5, rho = 7) mapped to the model's timesteps, descending.

    sigma_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho for i = 0 .. N-1, with
    sigma(t) = sqrt((1 - alpha_bar_t) / alpha_bar_t), sigma_max = sigma(T-1), sigma_min = sigma(0). Each sigma_i
    is rounded to the timestep whose sigma is nearest in log sigma (the model was trained only there); where
    two sigma_i round to one timestep (many steps on a short schedule) it is visited once, so the result can
    have fewer than `steps` entries.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise TypeError(f"steps must be an int, got {type(steps).__name__}")
    if not 1 <= steps <= schedule.T:
        raise ValueError(f"steps={steps}: a sampler needs at least one step and at most T={schedule.T}")
    if not rho > 0:
        raise ValueError(f"rho={rho}: EDM's spacing exponent must be positive (the paper uses 7)")
    alpha_bar = schedule.alpha_bar.numpy()
    if alpha_bar[-1] <= 0.0:
        raise ValueError("alpha_bar = 0 at T-1 (zero terminal SNR): sigma is infinite there, so a sigma spacing "
                         "cannot start at T-1")
    log_sigma = 0.5 * (np.log1p(-alpha_bar) - np.log(alpha_bar))  # increasing in t
    lo, hi = np.exp(log_sigma[0]) ** (1.0 / rho), np.exp(log_sigma[-1]) ** (1.0 / rho)
    ramp = np.linspace(0.0, 1.0, steps) if steps > 1 else np.zeros(1)
    # EDM Eq. (5)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    ts = np.abs(np.log(sigmas)[:, None] - log_sigma[None, :]).argmin(axis=1)
    ts = np.unique(ts)[::-1]  # descending, each timestep once
    return torch.from_numpy(ts.astype(np.int64).copy())
