"""Gotta (dissertation ch. 2) and MinPrompt (ch. 4): ``L = L_ori + λ · L_aug`` (eq. 2.4 / 4.2), each part the
mean token NLL (:func:`lit_agents.losses.sft.masked_nll`) of its batch."""

from __future__ import annotations

import torch


def augmented_loss(loss_ori: torch.Tensor, loss_aug: torch.Tensor | None, lambda_aug: float) -> torch.Tensor:
    """Gotta / MinPrompt objective ``L_ori + λ·L_aug`` (λ > 0; no augmented batch -> ``L_ori``)."""
    if loss_aug is None:
        return loss_ori
    return loss_ori + lambda_aug * loss_aug
