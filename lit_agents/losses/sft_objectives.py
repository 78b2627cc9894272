"""Probability-based SFT objectives: token losses that are functions of the target-token probability ``p``.

Source: Li, Qiu, Chen, Ji, Tong, "Beyond Log Likelihood: Probability-Based Objectives for Supervised
Fine-Tuning across the Model Capability Continuum" (arXiv:2510.00526), and its released trainer
(github.com/GaotangLi/Beyond-Log-Likelihood, ``--trainer_objective_trans``). With ``p = p_θ(y_t | x, y_<t)``:

=================  ==============================  =======================================================
``objective``      token loss ``f(p)``              paper / code key
=================  ==============================  =======================================================
``nll``            ``−log p``                       ``original`` (prior-averse; the default)
``neg_p``          ``1 − p``                        ``p`` (the paper's ``−p``, shifted by 1 so it is ≥ 0;
                                                    same gradient)
``general_family`` ``(1 − p^α) / α``                ``GeneralFamily-α`` (α → 0 recovers NLL; α = 1 is
                                                    ``neg_p``; α = 10 is the paper's ``−p^10``)
``only_top_p``     ``(1 − p) · 1[p ≥ q]``           ``OnlyTopP-q`` (thresholded, prior-leaning)
``only_bottom_p``  ``(1 − p) · 1[p ≤ q]``           ``OnlyBottomP-q``
``only_top_logp``  ``−log p · 1[p ≥ q]``            ``OnlyTopLogP-q``
``only_bottom_logp`` ``−log p · 1[p ≤ q]``          ``OnlyBottomLogP-q``
=================  ==============================  =======================================================

Reduction follows the released trainer: the sum over trained tokens divided by the number of trained tokens,
where for the thresholded objectives a token outside the threshold is removed from the loss mask (so it
counts in neither the sum nor the denominator). The indicator is computed on the detached probability.
"""
from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from lit_agents.losses.sft import IGNORE_INDEX

Objective = Literal["nll", "neg_p", "general_family", "only_top_p", "only_bottom_p", "only_top_logp",
                    "only_bottom_logp"]
OBJECTIVES: tuple[str, ...] = get_args(Objective)


def check_objective(objective: str, alpha: float, threshold: float) -> None:
    """Raise ``ValueError`` for an unknown objective or an out-of-range ``alpha`` / ``threshold``."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown SFT objective {objective!r}; expected one of {OBJECTIVES}")
    if objective == "general_family" and alpha < 0:
        raise ValueError(f"objective_alpha must be >= 0 for general_family (0 = NLL), got {alpha}")
    if objective.startswith("only_") and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"objective_threshold must lie in [0, 1], got {threshold}")


def token_objective(logp: Tensor, objective: Objective = "nll", *, alpha: float = 1.0,
                    threshold: float = 0.5) -> tuple[Tensor, Tensor]:
    """Per-token loss ``f(p)`` from target log-probabilities ``logp``, and the boolean keep mask
    (all True except for the thresholded objectives). ``p^α`` is computed as ``exp(α log p)``."""
    check_objective(objective, alpha, threshold)
    logp = logp.float()
    p = logp.exp()
    keep = torch.ones_like(logp, dtype=torch.bool)
    if objective == "nll":
        loss = -logp
    elif objective == "neg_p":
        loss = 1.0 - p
    elif objective == "general_family":
        loss = -logp if alpha == 0 else (1.0 - torch.exp(alpha * logp)) / alpha
    else:
        pd = p.detach()
        keep = pd >= threshold if "_top_" in objective else pd <= threshold
        loss = (1.0 - p) if objective.endswith("_p") else -logp
    return loss, keep


def masked_objective(logits: Tensor, labels: Tensor, objective: Objective = "nll", *, alpha: float = 1.0,
                     threshold: float = 0.5, shift: bool = False) -> Tensor:
    """Mean of :func:`token_objective` over the trained tokens (labels != -100, and inside the threshold).

    ``shift=True`` for decoder-only logits (position t predicts token t+1). 0 when no token is kept.
    """
    if shift:
        logits, labels = logits[:, :-1], labels[:, 1:]
    mask = labels != IGNORE_INDEX
    logp = -F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), labels.reshape(-1),
                            ignore_index=IGNORE_INDEX, reduction="none").view(labels.shape)
    loss, keep = token_objective(logp, objective, alpha=alpha, threshold=threshold)
    mask = mask & keep
    return (loss * mask).sum() / mask.sum().clamp(min=1)
