"""PlayBest's pure losses on tiny tensors (hand-computed)."""

import pytest
import torch

from lit_agents.losses.diffusion import diffusion_loss, value_loss


def test_losses():
    x0, noise, pred = torch.zeros(2, 4, 3), torch.ones(2, 4, 3), torch.full((2, 4, 3), 0.5)
    assert diffusion_loss(pred, x0, noise, "epsilon") == pytest.approx(0.25)   # ||eps - eps_theta||^2
    assert diffusion_loss(pred, x0, noise, "sample") == pytest.approx(0.25)    # ||x0 - x0_theta||^2
    assert diffusion_loss(torch.ones(2, 4, 3), x0, noise, "epsilon") == 0
    assert value_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0])) == pytest.approx(2.5)


def test_diffusion_loss_targets_noise_or_clean_trajectory():
    x0, noise = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 1.0]])
    pred = torch.tensor([[1.0, 0.0]])
    assert diffusion_loss(pred, x0, noise, "epsilon") == pytest.approx((0 + 1) / 2)   # (1-1)^2, (0-1)^2
    assert diffusion_loss(pred, x0, noise, "sample") == pytest.approx((1 + 4) / 2)    # (1-0)^2, (0-2)^2
