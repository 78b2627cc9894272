"""Temporal U-Net (diffusers UNet1DModel, Janner layout) and the value net."""

import pytest
import torch
from diffusers import UNet1DModel

from lit_agents.nets.temporal_unet import TemporalUNet, ValueNet, check_horizon


def test_shapes_and_diffusers_backbone():
    unet, value = TemporalUNet(66, dim=8, dim_mults=(1, 2, 4)), ValueNet(66, 16, dim=8, dim_mults=(1, 2, 4))
    assert isinstance(unet.unet, UNet1DModel)
    x, t = torch.randn(3, 16, 66), torch.tensor([0, 5, 9])
    assert unet(x, t).shape == (3, 16, 66)
    assert value(x, t).shape == (3,)
    # the timestep matters to both
    assert not torch.allclose(unet(x, t), unet(x, t + 1))
    assert not torch.allclose(value(x, t), value(x, t + 1))


def test_kernel_size_is_configurable():
    net = TemporalUNet(6, dim=8, dim_mults=(1, 2), kernel_size=3)
    ks = {m.kernel_size[0] for n, m in net.named_modules() if isinstance(m, torch.nn.Conv1d) and "conv1d" in n
          and "final" not in n}
    assert ks == {3}
    with pytest.raises(ValueError, match="odd"):
        TemporalUNet(6, dim=8, dim_mults=(1, 2), kernel_size=4)


def test_horizon_divisibility_error_names_the_key():
    with pytest.raises(ValueError, match=r"model.init_args.horizon=30 must be a positive multiple of 8"):
        check_horizon(30, (1, 2, 4, 8), key="model.init_args.horizon")
    check_horizon(32, (1, 2, 4, 8))
    with pytest.raises(ValueError, match="horizon=30 must be a positive multiple of 4"):
        ValueNet(66, 30, dim=8, dim_mults=(1, 2, 4))


def test_value_net_rejects_other_horizons():
    value = ValueNet(6, 8, dim=8, dim_mults=(1, 2))
    with pytest.raises(ValueError, match="horizon=8"):
        value(torch.randn(1, 12, 6), torch.tensor([0]))
