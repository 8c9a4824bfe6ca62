"""Shared test fixtures: small analytic eps-models that need no training."""
import pytest
import torch

from teachkit.models.exact import GaussianMixtureEps


class DummyEps(torch.nn.Module):
    """diffusers' scheduler-test model: eps(x, t) = x * t / (t + 1)."""

    def forward(self, x, t, y=None):
        t = t.to(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
        return x * t / (t + 1)


@pytest.fixture
def dummy_eps():
    return DummyEps()


@pytest.fixture
def linear():
    from teachkit.schedules import linear_schedule

    return linear_schedule()


@pytest.fixture
def gauss_model(linear):
    # three classes N(mu_k, 0.3^2 I), mu = (2, 0), (-2, 0), (0, 2); the exact eps, so a 'perfect' model
    return GaussianMixtureEps(linear)


class HalfV(torch.nn.Module):
    """A fixed 'distilled student': v(x, t, y) = 0.5 x, counting its calls (prediction 'v' and a grid mark it as a student)."""

    prediction = "v"
    grid = tuple(range(999, -1, -25))  # the toy student's 40-point distillation grid

    def __init__(self, num_classes: int = 3):
        super().__init__()
        self.num_classes = self.null_label = num_classes
        self.calls = 0

    def forward(self, x, t, y=None):
        self.calls += 1
        return 0.5 * x


@pytest.fixture
def half_v():
    """The HalfV class: call it (optionally with num_classes) for a fresh, call-counting stand-in student."""
    return HalfV


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tests, restored after: on 2 shared cores, 2 threads next to another busy
    process ran the widgets' samplers ~30x slower. A module opts in with pytest.mark.usefixtures("one_torch_thread")."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
