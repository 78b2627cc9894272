"""ReLiable's temporal-difference pieces on hand-computed values (lit_agents/losses/td.py)."""
import math

import pytest
import torch

from lit_agents.losses.td import cql_penalty, double_q_target, max_q_target, td_loss


def test_double_q_target_uses_online_argmax_and_target_value():
    reward = torch.tensor([1.0, 0.5])
    done = torch.tensor([0.0, 1.0])
    next_online = torch.tensor([[0.1, 2.0, 0.3], [5.0, 0.0, 0.0]])  # argmax: action 1, action 0
    next_target = torch.tensor([[9.0, 0.4, 7.0], [3.0, 3.0, 3.0]])
    y = double_q_target(reward, done, next_online, next_target, gamma=0.5)
    # row 0: 1 + 0.5 * Q_target(s', 1) = 1 + 0.5 * 0.4 = 1.2 (not the target's own max 9.0); row 1 is terminal
    assert torch.allclose(y, torch.tensor([1.2, 0.5]))
    assert not y.requires_grad


def test_max_q_target_is_the_chapter_target():
    y = max_q_target(torch.tensor([1.0, 1.0]), torch.tensor([0, 1]), torch.tensor([[0.0, 4.0], [8.0, 2.0]]), 0.9)
    assert torch.allclose(y, torch.tensor([1.0 + 0.9 * 4.0, 1.0]))


def test_td_loss_mse_and_huber_hand_values():
    q = torch.tensor([[1.0, 3.0], [0.0, -2.0]], requires_grad=True)
    actions = torch.tensor([1, 0])
    target = torch.tensor([0.5, 0.25])  # errors: 2.5 and -0.25
    assert td_loss(q, actions, target, kind="mse").item() == pytest.approx((2.5 ** 2 + 0.25 ** 2) / 2)
    # Huber(δ=1): |e| > 1 -> |e| - 0.5, else 0.5 e²
    assert td_loss(q, actions, target, kind="huber").item() == pytest.approx(((2.5 - 0.5) + 0.5 * 0.25 ** 2) / 2)
    td_loss(q, actions, target, kind="mse").backward()
    assert q.grad[0, 0] == 0 and q.grad[1, 1] == 0  # only the taken actions get a gradient
    with pytest.raises(ValueError, match="huber"):
        td_loss(q, actions, target, kind="l1")


def test_cql_penalty_is_logsumexp_minus_data_q_and_zero_only_in_the_limit():
    q = torch.tensor([[0.0, 0.0], [2.0, 0.0]])
    actions = torch.tensor([0, 0])
    expected = ((math.log(2.0) - 0.0) + (math.log(math.exp(2.0) + 1.0) - 2.0)) / 2
    assert cql_penalty(q, actions).item() == pytest.approx(expected)
    # a Q that puts all mass on the data action drives the penalty towards 0 (never below)
    sharp = torch.tensor([[50.0, 0.0]])
    assert 0.0 <= cql_penalty(sharp, torch.tensor([0])).item() < 1e-6
