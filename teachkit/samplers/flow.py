"""Flow sampling: integrate dx/dt = v_theta(x, t) from noise (t = 1) to data (t = 0) with Euler, Heun or the midpoint rule.

The same ODE solvers a diffusion model's probability-flow ODE uses (Karras et al. 2022, Alg. 1 is the
Heun step), here on the straight path of teachkit.flow. torchdiffeq and Meta's flow_matching
(ODESolver) hold adaptive and higher-order solvers; tests/test_flow_peer.py checks these steps against it.
"""
from __future__ import annotations

import warnings
from typing import Callable

import torch

from ..flow import FlowPath, flow_times
from ..guidance import check_labels, guided_eps
from .core import Step, Trajectory, check_start, check_steps
from .prediction import eval_mode

__all__ = ["flow_sample", "flow_step", "flow_euler_sample", "flow_midpoint_sample", "flow_heun_sample", "FLOW_METHODS"]

# method -> network evaluations per step (unguided), and the display name in teachkit.SAMPLERS
FLOW_METHODS = {"euler": 1, "midpoint": 2, "heun": 2}
FLOW_NAMES = {"euler": "Flow (Euler)", "midpoint": "Flow (midpoint)", "heun": "Flow (Heun)"}


def flow_step(velocity: Callable[[torch.Tensor, float], torch.Tensor], x: torch.Tensor, t: float, t_next: float,
              method: str = "euler") -> tuple[torch.Tensor, torch.Tensor]:
    """One step of dx/dt = velocity(x, t) from t to t_next (< t); returns (x_next, the velocity at (x, t))."""
    h = t_next - t  # negative: we integrate towards the data at t = 0
    v = velocity(x, t)
    if method == "euler":
        # x_{t+h} = x_t + h v(x_t, t)
        return x + h * v, v
    if method == "midpoint":
        # x_{t+h} = x_t + h v(x_t + h/2 v(x_t, t), t + h/2)
        return x + h * velocity(x + 0.5 * h * v, t + 0.5 * h), v
    if method == "heun":
        # Heun (explicit trapezoid): predictor x' = x_t + h v(x_t, t), corrector x_{t+h} = x_t + h/2 (v(x_t, t) + v(x', t + h))
        v_next = velocity(x + h * v, t_next)
        return x + 0.5 * h * (v + v_next), v
    raise ValueError(f"method={method!r}; choose one of {', '.join(FLOW_METHODS)}")


def _check(model, schedule, x_T, steps, method, guidance_scale, callback, name) -> None:
    if not callable(model):
        raise TypeError(f"model must be callable as model(x_t, t, y=None), got {type(model).__name__}")
    kind = "consistency" if getattr(model, "grid", None) is not None else getattr(model, "prediction", "eps")
    if kind != "velocity":
        raise TypeError(f"{name} cannot use {type(model).__name__} (prediction {kind!r}; it takes 'velocity'): "
                        "it integrates a flow model's velocity; sample a diffusion model with ddim_sample, "
                        "dpm_solver_sample, ... (see teachkit.SAMPLERS)")
    if not isinstance(schedule, FlowPath):
        raise TypeError(f"schedule must be the teachkit.flow.FlowPath a flow model was trained on (not a "
                        f"NoiseSchedule), got {type(schedule).__name__}")
    if method not in FLOW_METHODS:
        raise ValueError(f"method={method!r}; choose one of {', '.join(FLOW_METHODS)}")
    check_start(model, x_T, guidance_scale)
    check_steps(steps)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable as callback(step), got {type(callback).__name__}")


@torch.no_grad()
def flow_sample(model: torch.nn.Module, schedule: FlowPath, x_T: torch.Tensor, steps: int = 20, *,
                method: str = "euler", y=None, guidance_scale: float = 1.0, generator: torch.Generator | None = None,
                record: bool = True, progress: bool = False, callback: Callable[[Step], None] | None = None) -> Trajectory:
    """Integrate a velocity model from x_T at t = 1 to t = 0 over `steps` uniform steps; guidance mixes the velocities (cfg_combine).

    Deterministic: `generator` is accepted for the common sampler signature and not used. `callback(Step)`
    runs after every step (Step.t is the continuous time the step left); raising in it stops the run.
    """
    _check(model, schedule, x_T, steps, method, guidance_scale, callback, FLOW_NAMES.get(method, 'flow_sample'))
    batch = x_T.shape[0]
    y = check_labels(model, y, batch, x_T.device)
    ts = flow_times(steps).tolist()  # Python floats: no device sync inside the loop
    null_label = getattr(model, "null_label", None)
    rows = [0]  # network input rows evaluated: nfe = rows / batch, counted, not computed

    def net(x, t, y_in=None):
        rows[0] += x.shape[0]
        return model(x, t) if y_in is None else model(x, t, y_in)

    def velocity(x: torch.Tensor, t: float) -> torch.Tensor:
        t_batch = torch.full((batch,), t, device=x.device, dtype=torch.float32)
        # guided: v_uncond + scale (v_cond - v_uncond), one batched pass over both halves (cfg_combine)
        return guided_eps(net, x, t_batch, y, guidance_scale, null_label=null_label)

    x, xs, x0_hats = x_T, [x_T], []
    items = list(enumerate(zip(ts[:-1], ts[1:])))
    if progress:
        from tqdm.auto import tqdm
        items = tqdm(items, desc=FLOW_NAMES[method], leave=False)
    with eval_mode(model):
        for i, (t, t_next) in items:
            x_next, v = flow_step(velocity, x, t, t_next, method)
            # x0_hat = x_t - t v: the straight line back to the data from the step's first velocity
            x0_hat = x - t * v
            x = x_next
            if record:
                xs.append(x)
                x0_hats.append(x0_hat)
            if callback is not None:
                callback(Step(i, steps, t, x, x0_hat))
    if not bool(torch.isfinite(x).all()):  # one check, after the loop
        warnings.warn(f"{FLOW_NAMES[method]} returned NaN or inf in {int((~torch.isfinite(x)).sum())} sample values: "
                      "an extreme guidance_scale overflows; lower the scale", RuntimeWarning, stacklevel=2)
    return Trajectory(
        sample=x,
        timesteps=torch.tensor(ts[:-1], dtype=torch.float64),  # the continuous times left, 1 first
        nfe=rows[0] // batch,
        xs=torch.stack(xs) if record else None,
        x0_hats=torch.stack(x0_hats) if record else None,
        sampler=FLOW_NAMES[method],
    )


def flow_euler_sample(model, schedule: FlowPath, x_T: torch.Tensor, steps: int = 20, **kw) -> Trajectory:
    """flow_sample with method="euler" (the registry's "Flow (Euler)")."""
    return flow_sample(model, schedule, x_T, steps, method="euler", **kw)


def flow_midpoint_sample(model, schedule: FlowPath, x_T: torch.Tensor, steps: int = 10, **kw) -> Trajectory:
    """flow_sample with method="midpoint" (the registry's "Flow (midpoint)")."""
    return flow_sample(model, schedule, x_T, steps, method="midpoint", **kw)


def flow_heun_sample(model, schedule: FlowPath, x_T: torch.Tensor, steps: int = 10, **kw) -> Trajectory:
    """flow_sample with method="heun" (the registry's "Flow (Heun)")."""
    return flow_sample(model, schedule, x_T, steps, method="heun", **kw)
