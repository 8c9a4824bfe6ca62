"""Models: the eps-model contract (shapes, sample_shape, config, null label) and input validation."""
import pytest
import torch

from teachkit.models import MODEL_CLASSES, MnistClassifier, SmallUNet, ToyMLP, sinusoidal_embedding

torch.set_num_threads(1)


def small_unet(**kw):
    return SmallUNet(channels=(8, 16), emb_dim=32, **kw)


def test_sinusoidal_embedding():
    e = sinusoidal_embedding(torch.tensor([0, 5, 999]), 16)
    assert e.shape == (3, 16)
    assert torch.allclose(e[0, :8], torch.ones(8)) and torch.allclose(e[0, 8:], torch.zeros(8))
    # distinct timesteps get distinct features
    assert (e[1] - e[2]).abs().max() > 0.1
    with pytest.raises(ValueError, match="even"):
        sinusoidal_embedding(torch.tensor([1]), 15)


@pytest.mark.parametrize("make, shape", [(lambda: ToyMLP(num_classes=3), (2,)),
                                         (lambda: small_unet(num_classes=10), (1, 28, 28))])
def test_eps_model_contract(make, shape):
    torch.manual_seed(0)
    model = make()
    assert model.sample_shape == shape
    assert model.null_label == model.num_classes
    x = torch.randn(4, *shape)
    t = torch.tensor([0, 10, 500, 999])
    assert model(x, t).shape == x.shape
    # y=None is the null label
    null = torch.full((4,), model.null_label)
    assert torch.equal(model(x, t, None), model(x, t, null))
    # an int t means the same timestep for the whole batch
    assert torch.equal(model(x, 7), model(x, torch.full((4,), 7)))
    # the config is JSON-able and rebuilds the same architecture
    clone = type(model)(**model.config)
    assert [p.shape for p in clone.parameters()] == [p.shape for p in model.parameters()]
    assert type(model).__name__ in MODEL_CLASSES


def test_condition_changes_output():
    torch.manual_seed(0)
    model = ToyMLP(num_classes=2)
    x, t = torch.randn(5, 2), torch.full((5,), 100)
    assert not torch.allclose(model(x, t, torch.zeros(5, dtype=torch.long)), model(x, t, torch.ones(5, dtype=torch.long)))


@pytest.mark.parametrize("make", [lambda: ToyMLP(num_classes=3), lambda: small_unet(num_classes=3)])
def test_bad_labels_and_timesteps(make):
    model = make()
    x = torch.randn(2, *model.sample_shape)
    t = torch.tensor([1, 2])
    with pytest.raises(TypeError, match="integer class labels"):
        model(x, t, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"labels must lie in 0 \.\. 2, or be the null label 3"):
        model(x, t, torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="shape"):
        model(x, t, torch.tensor([0, 1, 2]))
    with pytest.raises(TypeError, match="integer timesteps"):
        model(x, t.float())
    with pytest.raises(ValueError, match="expects x_t of shape"):
        model(torch.randn(2, 3, 5), t)


def test_unconditional_model_rejects_labels():
    model = ToyMLP(num_classes=None)
    x = torch.randn(2, 2)
    assert model(x, torch.tensor([1, 2])).shape == (2, 2)
    with pytest.raises(ValueError, match="unconditional"):
        model(x, torch.tensor([1, 2]), torch.tensor([0, 1]))


def test_shipped_unet_size():
    n = sum(p.numel() for p in SmallUNet(channels=(32, 64, 64), num_classes=10).parameters())
    assert 0.5e6 < n < 1.2e6


def test_classifier_features_and_logits():
    clf = MnistClassifier()
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    assert clf(x).shape == (3, 10)
    assert clf.features(x).shape == (3, clf.feature_dim)
    assert clf.predict(x).shape == (3,)
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        clf(torch.rand(3, 28, 28))
