"""Temporal-difference losses for offline double DQN (ReLiable, dissertation §6.5.1.4).

The chapter's loss is ``sum [Q(s_t, a_t) - (r_t + V(s_{t+1}))]^2`` with ``V(s') = max_a Q(s', a)``; we use the
double-Q form (van Hasselt et al. 2016, which the chapter builds on): the online network picks the next action
and the target network values it, ``y = r + gamma * (1 - done) * Q_target(s', argmax_a Q_online(s', a))``.
Possession ends are terminal (``done``): no bootstrapping past them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def double_q_target(reward: Tensor, done: Tensor, next_q_online: Tensor, next_q_target: Tensor,
                    gamma: float) -> Tensor:
    """``r + gamma * (1 - done) * Q_target(s', argmax_a Q_online(s', a))``, no gradient."""
    with torch.no_grad():
        a_star = next_q_online.argmax(dim=-1, keepdim=True)
        v_next = next_q_target.gather(-1, a_star).squeeze(-1)
        return reward + gamma * (1.0 - done.float()) * v_next


def max_q_target(reward: Tensor, done: Tensor, next_q: Tensor, gamma: float) -> Tensor:
    """The chapter's plain target ``r + gamma * (1 - done) * max_a Q(s', a)`` (``double_q: false``)."""
    with torch.no_grad():
        return reward + gamma * (1.0 - done.float()) * next_q.max(dim=-1).values


def td_loss(q: Tensor, actions: Tensor, target: Tensor, kind: str = "huber", huber_delta: float = 1.0) -> Tensor:
    """Mean TD loss of ``Q(s, a)`` (``q`` [B, A], ``actions`` [B]) against ``target`` [B]: "mse" or "huber"."""
    q_sa = q.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
    if kind == "mse":
        return F.mse_loss(q_sa, target)
    if kind == "huber":
        return F.huber_loss(q_sa, target, delta=huber_delta)
    raise ValueError(f"td loss kind must be 'huber' or 'mse', got {kind!r}")


def cql_penalty(q: Tensor, actions: Tensor) -> Tensor:
    """Conservative Q-learning regulariser (Kumar et al. 2020, CQL(H)): ``E[logsumexp_a Q(s, a) - Q(s, a_data)]``."""
    return (torch.logsumexp(q, dim=-1) - q.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)).mean()
