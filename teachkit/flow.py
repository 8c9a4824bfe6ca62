"""The linear flow path (rectified flow, Liu et al. 2022; conditional OT, Lipman et al. 2022) in continuous time t in [0, 1].

x_t = (1 - t) x_0 + t eps moves each data point x_0 on a straight line to its noise eps: t = 0 is
data, t = 1 is noise, the same direction as the diffusion lessons' timesteps. A network v_theta(x_t, t)
regresses the path's velocity dx_t/dt = eps - x_0 (teachkit.training.flow_matching trains it); sampling
integrates dx/dt = v_theta from t = 1 down to t = 0 (teachkit.samplers.flow_sample). Meta's
`flow_matching` package (PyPI) holds the general paths, schedulers and ODE solvers; tests/test_flow_peer.py
checks this path and our solvers against it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["FlowPath", "flow_path_spec", "flow_path_from_spec", "flow_times", "check_times"]


def check_times(t: torch.Tensor | float) -> torch.Tensor:
    """t as a float tensor, with a clear ValueError when any value lies outside [0, 1]."""
    t = torch.as_tensor(t, dtype=torch.get_default_dtype()) if not isinstance(t, torch.Tensor) else t
    if not t.dtype.is_floating_point:
        raise TypeError(f"flow time t must be real (float) in [0, 1], got dtype {t.dtype}")
    if t.numel() and not bool(((t >= 0) & (t <= 1)).all()):
        raise ValueError(f"flow time t must lie in [0, 1] (0 = data, 1 = noise), got range "
                         f"[{float(t.min()):g}, {float(t.max()):g}]")
    return t


def _bcast(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    # (B,) -> (B, 1, ..., 1) so a per-sample time broadcasts over the sample dimensions; a scalar stays a scalar
    return t.to(x.dtype).reshape(-1, *([1] * (x.ndim - 1))) if t.ndim else t.to(x.dtype)


@dataclass(frozen=True)
class FlowPath:
    """The straight path x_t = alpha_t x_0 + sigma_t eps with alpha_t = 1 - t, sigma_t = t (what `load_pretrained` returns as a flow model's schedule)."""

    name: str = "linear"
    # the finest step grid the widgets and CLIs offer: the shipped flow networks embed time_scale * t, time_scale = 1000
    T: int = 1000

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        """alpha_t = 1 - t, the weight of the data."""
        return 1.0 - check_times(t)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        """sigma_t = t, the weight of the noise."""
        return check_times(t)

    def interpolate(self, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """x_t = (1 - t) x_0 + t eps, t a number or a (B,) tensor (Liu et al. 2022, Eq. 1)."""
        if x0.shape != eps.shape:
            raise ValueError(f"x0 {tuple(x0.shape)} and eps {tuple(eps.shape)} must have the same shape")
        t = _bcast(check_times(t), x0)
        # x_t = (1 - t) x_0 + t eps
        return (1.0 - t) * x0 + t * eps

    @staticmethod
    def target_velocity(x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """u_t = d x_t / d t = eps - x_0, the same at every t on one line (Lipman et al. 2022, Eq. 23 with sigma_min = 0)."""
        return eps - x0

    def x0_from_velocity(self, x_t: torch.Tensor, v: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """x0_hat = x_t - t v: follow the velocity straight back to t = 0."""
        return x_t - _bcast(check_times(t), x_t) * v

    def eps_from_velocity(self, x_t: torch.Tensor, v: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """eps_hat = x_t + (1 - t) v: follow it forward to t = 1."""
        return x_t + (1.0 - _bcast(check_times(t), x_t)) * v

    def velocity_from_eps(self, x_t: torch.Tensor, eps: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """The velocity an eps-prediction implies: v = (eps - x_t) / (1 - t) (undefined at t = 1)."""
        return (eps - x_t) / (1.0 - _bcast(check_times(t), x_t))


def flow_times(steps: int) -> torch.Tensor:
    """The uniform grid 1 = t_0 > t_1 > ... > t_S = 0 of a flow sampler with S steps (float64 for exact steps)."""
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise TypeError(f"steps must be an int, got {type(steps).__name__}")
    if steps < 1:
        raise ValueError(f"steps={steps}: a flow sampler needs at least 1 step")
    return torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)


def flow_path_spec(path: FlowPath | None = None) -> dict:
    """The JSON record of a flow path stored in a checkpoint ({"name": "linear"})."""
    return {"name": (path or FlowPath()).name}


def flow_path_from_spec(spec: dict) -> FlowPath:
    """Rebuild the FlowPath a checkpoint records."""
    if not isinstance(spec, dict) or spec.get("name") != "linear":
        raise ValueError(f"bad flow path record {spec!r}; expected {{'name': 'linear'}}")
    return FlowPath(name="linear")
