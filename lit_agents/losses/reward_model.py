"""The Bradley–Terry loss of a scalar reward model on preference pairs: ``−log σ(r(x, y_chosen) − r(x, y_rejected))``
(Bradley & Terry 1952; Ouyang et al. 2022)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """Mean ``−log σ(r_chosen − r_rejected)`` over the batch."""
    return -F.logsigmoid(chosen.float() - rejected.float()).mean()
