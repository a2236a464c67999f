"""The shared blocks (models/layers.py) and the adversarial toolkit (models/adversarial.py)."""

import pytest
import torch
import torch.nn as nn

from colorsurvey.models import adversarial as A
from colorsurvey.models.layers import ConvBlock, PatchDiscriminator, ResidualBlock

pytestmark = pytest.mark.usefixtures("one_thread")


def test_conv_block_shapes_and_layout():
    x = torch.randn(2, 3, 17, 12)
    assert ConvBlock(3, 8)(x).shape == (2, 8, 17, 12)
    assert ConvBlock(3, 8, n=1, stride=2)(x).shape == (2, 8, 9, 6)
    assert ConvBlock(3, 8, n=1, dilation=4)(x).shape == (2, 8, 17, 12)
    plain = ConvBlock(3, 8, n=1, norm=False)
    assert [type(m) for m in plain] == [nn.Conv2d, nn.ReLU] and plain[0].bias is not None


@pytest.mark.parametrize("norm", [True, False])
def test_residual_block_is_identity_plus_body(norm):
    blk = ResidualBlock(4, act="lrelu", norm=norm).eval()
    last_conv = [m for m in blk.body if isinstance(m, nn.Conv2d)][-1]
    for p in last_conv.parameters():
        nn.init.zeros_(p)           # the body's last conv zeroed: the body outputs 0 (BN beta is 0)
    x = torch.randn(1, 4, 5, 6)
    assert torch.allclose(blk(x), x)


def test_patch_discriminator_receptive_field_grid():
    d = PatchDiscriminator(5, width=8, n_layers=3, norm="none")
    out = d(torch.randn(2, 5, 64, 64))
    assert out.shape == (2, 1, 6, 6)         # pix2pix's 70x70 PatchGAN on 64x64: a 6x6 grid of logits
    with pytest.raises(ValueError, match="norm"):
        PatchDiscriminator(3, norm="layer")


def test_gan_losses_known_values():
    real, fake = torch.full((4, 1), 3.0), torch.full((4, 1), -2.0)
    assert A.discriminator_loss("wgan", real, fake).item() == pytest.approx(-5.0)
    assert A.discriminator_loss("hinge", real, fake).item() == pytest.approx(0.0)
    assert A.discriminator_loss("lsgan", torch.ones(3), torch.zeros(3)).item() == pytest.approx(0.0)
    assert A.generator_loss("lsgan", torch.ones(3)).item() == pytest.approx(0.0)
    assert A.generator_loss("wgan", fake).item() == pytest.approx(2.0)
    ns = A.discriminator_loss("nonsaturating", torch.full((2,), 20.0), torch.full((2,), -20.0))
    assert ns.item() < 1e-6
    with pytest.raises(ValueError, match="nonsaturating"):
        A.generator_loss("vanilla", fake)


def test_gradient_penalty_zero_for_unit_lipschitz_linear_critic():
    w = torch.randn(12)
    w = w / w.norm()                               # |grad| = 1 everywhere
    critic = lambda x: x.flatten(1) @ w            # noqa: E731
    gp = A.gradient_penalty(critic, torch.randn(8, 3, 2, 2), torch.randn(8, 3, 2, 2))
    assert gp.item() == pytest.approx(0.0, abs=1e-10)
    gp2 = A.gradient_penalty(lambda x: 3 * critic(x), torch.randn(8, 3, 2, 2), torch.randn(8, 3, 2, 2))
    assert gp2.item() == pytest.approx(4.0, rel=1e-5)   # (3 - 1)^2


def test_frozen_restores_requires_grad_even_on_error():
    m = nn.Linear(2, 2)
    m.bias.requires_grad_(False)
    with pytest.raises(RuntimeError):
        with A.frozen(m):
            assert not any(p.requires_grad for p in m.parameters())
            raise RuntimeError("boom")
    assert m.weight.requires_grad and not m.bias.requires_grad


def test_parameters_except_by_module_identity():
    class G(nn.Module):
        def __init__(self):
            super().__init__()
            self.gen = nn.Linear(2, 2)
            self.disc_like_name = nn.Linear(2, 1)
    g = G()
    got = A.parameters_except(g, g.disc_like_name)
    assert {id(p) for p in got} == {id(p) for p in g.gen.parameters()}


@pytest.mark.parametrize("key", ["scribbler", "lineart"])
def test_adversarial_methods_follow_the_convention(key):
    from colorsurvey.data.synthetic import SyntheticNCD
    from colorsurvey.models import create

    m = create(key, size="smoke", seed=0)
    assert set(m.optimizers) == {"generator", "discriminator"} and m.n_critic >= 1
    d_params = {id(p) for p in m.discriminator_module.parameters()}
    assert not d_params & {id(p) for g in m.optimizers["generator"].param_groups for p in g["params"]}
    logs = m.training_step(SyntheticNCD("train", size=32, n=8).batch(list(range(4))))
    assert {"loss", "g_adv", "d_loss"} <= set(logs)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in logs.values())
