"""The Bradley–Terry loss of the scalar reward model, on hand-computed values."""

import math

import pytest
import torch

from lit_agents.losses.reward_model import bradley_terry_loss


def test_bradley_terry_loss_hand_computed():
    loss = bradley_terry_loss(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0]))
    expected = (-torch.log(torch.sigmoid(torch.tensor(2.0))) + torch.log(torch.tensor(2.0))) / 2
    assert loss.item() == pytest.approx(expected.item(), abs=1e-6)  # (0.1269 + 0.6931) / 2


def test_bradley_terry_loss_of_equal_rewards_is_log_2_and_falls_with_the_margin():
    assert bradley_terry_loss(torch.tensor([1.5]), torch.tensor([1.5])).item() == pytest.approx(math.log(2))
    assert bradley_terry_loss(torch.tensor([0.0]), torch.tensor([1.0])).item() == pytest.approx(
        math.log(1 + math.e), abs=1e-6)  # -log σ(-1) = log(1 + e)
