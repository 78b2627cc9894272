"""Gotta / MinPrompt's L = L_ori + λ·L_aug."""

import pytest
import torch

from lit_agents.losses.qa import augmented_loss


def test_augmented_loss_is_l_ori_plus_lambda_l_aug():
    ori, aug = torch.tensor(2.0), torch.tensor(3.0)
    assert float(augmented_loss(ori, aug, 0.1)) == pytest.approx(2.3)
    assert float(augmented_loss(ori, None, 0.1)) == 2.0
