"""TinyLLM's multi-task distillation objective and the option-likelihood score used to rank answers.

Dissertation Eq. 3.2-3.4 (and the released ``TaskPrefixTrainer``): ``L = γ·L_A + Σ_m α_m·L_{T_m}`` where every
term is the token cross-entropy of a seq2seq target given ``(prefix, question, options)``: the answer text for
``L_A`` and teacher ``m``'s rationale for ``L_{T_m}``. Each term is a mean over the target tokens of the batch,
as the Hugging Face seq2seq loss the released code uses (padding = ``-100`` is ignored).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from torch import Tensor

from lit_agents.losses.sft import IGNORE_INDEX as IGNORE
from lit_agents.losses.sft import masked_nll


def task_nll(logits: Tensor, labels: Tensor, reduction: Literal["mean", "sum"] = "mean") -> Tensor:
    """Token-mean (or summed) cross-entropy of one task; ``logits [B, T, V]`` are aligned with ``labels [B, T]``.

    ``sum`` serves a task split into several forwards: the sums of its parts over its token count is the mean."""
    if logits.shape[:2] != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} do not align")
    if not (labels != IGNORE).any():
        raise ValueError("a task batch has no target tokens (all labels are -100): its loss is undefined")
    return masked_nll(logits, labels, reduction=reduction)


def tinyllm_loss(task_losses: Mapping[str, Tensor], weights: Mapping[str, float]) -> Tensor:
    """``Σ_task weight_task · loss_task`` over the tasks present in ``task_losses``.

    ``weights`` holds γ under the label task's key and α_m under teacher m's key; a task with no loss this step
    (no example in the batch has that teacher's rationale) simply does not appear.
    """
    if not task_losses:
        raise ValueError("tinyllm_loss: no task losses")
    missing = [k for k in task_losses if k not in weights]
    if missing:
        raise KeyError(f"tinyllm_loss: no weight for task(s) {missing}")
    return sum(weights[k] * v for k, v in task_losses.items())


def sequence_logprob(logits: Tensor, labels: Tensor, reduction: Literal["sum", "mean"] = "sum") -> Tensor:
    """Log-likelihood of each target sequence ``[B]`` (sum or per-token mean over non-ignored positions).

    Used to rank multiple-choice options: the student scores every option text as the answer target and the
    highest score wins (``mean`` removes the bias towards short options).
    """
    if logits.shape[:2] != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} do not align")
    total = -masked_nll(logits, labels, reduction="none")  # per-sequence summed log-likelihood
    if reduction == "sum":
        return total
    if reduction == "mean":
        return total / (labels != IGNORE).sum(-1).clamp_min(1)
    raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
