"""Classifier-free guidance: the combine rule, batched evaluation, and the labels it accepts."""
import pytest
import torch

from teachkit.guidance import cfg_combine, guidance_passes, guided_eps


def test_cfg_reference_value():
    # scale 7.5 (the CFG paper's w = 6.5)
    out = cfg_combine(torch.tensor([0.1, -0.2]), torch.tensor([0.5, 0.3]), 7.5)
    torch.testing.assert_close(out, torch.tensor([3.1, 3.55]))


def test_cfg_scale_0_and_1():
    u, c = torch.randn(10), torch.randn(10)
    torch.testing.assert_close(cfg_combine(u, c, 1.0), c)
    torch.testing.assert_close(cfg_combine(u, c, 0.0), u)
    w = 2.0  # the paper's form (1 + w) eps_c - w eps_u
    torch.testing.assert_close(cfg_combine(u, c, w + 1), (1 + w) * c - w * u)


class CountingModel(torch.nn.Module):
    num_classes, null_label = 3, 3

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x, t, y=None):
        self.calls.append(x.shape[0])
        return x * 0 + (y.float()[:, None] if y is not None else -1.0)


def test_guided_eps_one_batched_pass():
    m = CountingModel()
    x, t, y = torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), torch.tensor([0, 1, 2, 1])
    out = guided_eps(m, x, t, y, 2.0)
    assert m.calls == [8]  # both halves in one forward
    torch.testing.assert_close(out, cfg_combine(torch.full((4, 2), 3.0), y.float()[:, None].expand(4, 2), 2.0))
    m.calls.clear()
    guided_eps(m, x, t, y, 1.0)
    guided_eps(m, x, t, y, 0.0)
    assert m.calls == [4, 4]
    assert guidance_passes(y, 2.0) == 2 and guidance_passes(y, 1.0) == 1 and guidance_passes(None, 1.0) == 1


def test_cfg_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        cfg_combine(torch.zeros(2), torch.zeros(3), 2.0)
