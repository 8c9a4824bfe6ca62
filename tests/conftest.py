"""Shared test fixtures: small analytic eps-models that need no training."""
import pytest
import torch


class DummyEps(torch.nn.Module):
    """diffusers' scheduler-test model: eps(x, t) = x * t / (t + 1)."""

    def forward(self, x, t, y=None):
        t = t.to(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
        return x * t / (t + 1)


class GaussianEps(torch.nn.Module):
    """The exact eps-predictor for data ~ N(mu_y, s^2 I) in 2-D, one mean per class (null label: the mixture's mean)."""

    sample_shape = (2,)

    def __init__(self, schedule, means=((2.0, 0.0), (-2.0, 0.0), (0.0, 2.0)), s=0.3):
        super().__init__()
        self.num_classes = len(means)
        self.null_label = self.num_classes
        means = torch.tensor(means, dtype=torch.float32)
        self.register_buffer("means", torch.cat([means, means.mean(0, keepdim=True)]))
        self.register_buffer("alpha_bar", schedule.alpha_bar.float())
        self.s = s

    def forward(self, x, t, y=None):
        if y is None:
            y = torch.full((x.shape[0],), self.null_label, device=x.device, dtype=torch.long)
        ab = self.alpha_bar[t][:, None]
        mu = self.means[y]
        var = ab * self.s**2 + (1 - ab)
        # eps = -sqrt(1 - ab) * score, score of N(sqrt(ab) mu, var I)
        return (1 - ab).sqrt() * (x - ab.sqrt() * mu) / var


@pytest.fixture
def dummy_eps():
    return DummyEps()


@pytest.fixture
def linear():
    from teachkit.schedules import linear_schedule

    return linear_schedule()


@pytest.fixture
def gauss_model(linear):
    return GaussianEps(linear)
