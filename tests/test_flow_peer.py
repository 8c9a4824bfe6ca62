"""Peer equivalence: our linear path and flow solvers vs Meta's flow_matching package (CondOTProbPath, ODESolver on torchdiffeq).

flow_matching puts noise at t' = 0 and data at t' = 1 (x_t' = t' x_1 + (1 - t') x_0, x_0 the noise); we
put noise at t = 1, so t' = 1 - t and its velocity is minus ours. On the same grid and the same
velocity field, our Euler, midpoint and Heun steps give its "euler", "midpoint" and "heun2" to 1e-5.
"""
from __future__ import annotations

import pytest
import torch

flow_matching = pytest.importorskip("flow_matching")
from flow_matching.path import CondOTProbPath  # noqa: E402
from flow_matching.solver import ODESolver  # noqa: E402

from teachkit.flow import FlowPath, flow_times  # noqa: E402
from teachkit.models import ToyMLP  # noqa: E402
from teachkit.models.exact_flow import GaussianMixtureVelocity  # noqa: E402
from teachkit.samplers import flow_sample  # noqa: E402

torch.set_num_threads(1)
PATH = FlowPath()


def test_path_and_target_velocity_equal_cond_ot():
    g = torch.Generator().manual_seed(0)
    data, noise = torch.randn(64, 3, 4, generator=g), torch.randn(64, 3, 4, generator=g)
    t = torch.rand(64, generator=g)
    theirs = CondOTProbPath().sample(x_0=noise, x_1=data, t=1.0 - t)
    torch.testing.assert_close(PATH.interpolate(data, noise, t), theirs.x_t, rtol=1e-6, atol=1e-6)
    # d x / d t = -(d x / d t')
    torch.testing.assert_close(PATH.target_velocity(data, noise), -theirs.dx_t, rtol=1e-6, atol=1e-6)
    # the eps <-> velocity conversions agree as well (away from pure noise, where both divide by ~0)
    t = 0.9 * t
    x_t, eps = CondOTProbPath().sample(x_0=noise, x_1=data, t=1.0 - t).x_t, noise
    t_col = (1.0 - t).reshape(-1, 1, 1)
    v_theirs = CondOTProbPath().epsilon_to_velocity(eps, x_t, t_col)
    torch.testing.assert_close(PATH.velocity_from_eps(x_t, eps, t), -v_theirs, rtol=1e-5, atol=1e-5)


class TinyVelocity(torch.nn.Module):
    """A fixed nonlinear velocity field: a random-weight continuous-time ToyMLP (seed 0), marked as a flow model."""

    prediction = "velocity"
    sample_shape = (2,)

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = ToyMLP(hidden=32, layers=2, num_classes=None, prediction="velocity", time_scale=1000.0)
        self.num_classes = None

    def forward(self, x, t, y=None):
        return self.net(x, t)


@pytest.mark.parametrize("model_name", ["tiny", "gauss"])
@pytest.mark.parametrize("ours, theirs", [("euler", "euler"), ("midpoint", "midpoint"), ("heun", "heun2")])
@pytest.mark.parametrize("steps", [1, 4, 10])
def test_solvers_equal_odesolver(model_name, ours, theirs, steps):
    model = TinyVelocity() if model_name == "tiny" else GaussianMixtureVelocity()
    x_T = torch.randn(128, 2, generator=torch.Generator().manual_seed(1))
    tr = flow_sample(model, PATH, x_T, steps, method=ours)

    def velocity(x, t):
        # ODESolver hands a scalar t' on its grid; our field is queried at t = t' (the same grid, descending)
        return model(x, t.to(torch.float32).expand(x.shape[0]))

    grid = flow_times(steps).to(torch.float32)
    sol = ODESolver(velocity_model=velocity).sample(x_init=x_T, step_size=None, method=theirs, time_grid=grid,
                                                    return_intermediates=True)
    assert sol.shape == tr.xs.shape
    torch.testing.assert_close(tr.xs, sol, rtol=1e-5, atol=1e-5)
