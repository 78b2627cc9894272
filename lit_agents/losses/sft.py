"""The response-only token NLL of supervised fine-tuning (SFT, IterAlign's SFT step, Gotta/MinPrompt's QA
loss, TinyLLM's task losses, answer scoring): labels are ``-100`` (``IGNORE_INDEX``) on prompt and padding."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def masked_nll(logits: torch.Tensor, labels: torch.Tensor, *, shift: bool = False,
               reduction: Literal["mean", "sum", "none"] = "mean") -> torch.Tensor:
    """Token NLL over positions whose label is not -100.

    ``shift=True`` for decoder-only logits (position t predicts token t+1). ``"mean"`` averages over all
    label tokens of the batch (0 when there are none); ``"none"`` returns the per-sequence *sum* ``[B]``
    (the log-likelihood used to rank answers).
    """
    if shift:
        logits, labels = logits[:, :-1], labels[:, 1:]
    tok = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), labels.reshape(-1),
                          ignore_index=IGNORE_INDEX, reduction="none").view(labels.shape)
    if reduction == "none":
        return tok.sum(dim=1)
    total = tok.sum()
    return total if reduction == "sum" else total / (labels != IGNORE_INDEX).sum().clamp(min=1)


def response_logits(model: torch.nn.Module, batch: dict[str, torch.Tensor], *,
                    encoder_decoder: bool) -> torch.Tensor:
    """Logits of ``model`` on a ``tokenize_prompt_response`` batch (decoder-only: unshifted)."""
    inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "position_ids")}
    if encoder_decoder:
        return model(**inputs, labels=batch["labels"]).logits  # shifted decoder inputs built from labels
    return model(**inputs).logits


def response_nll(model: torch.nn.Module, batch: dict[str, torch.Tensor], *, encoder_decoder: bool,
                 reduction: Literal["mean", "sum", "none"] = "mean") -> torch.Tensor:
    """Run ``model`` on a ``tokenize_prompt_response`` batch and return the masked response NLL."""
    logits = response_logits(model, batch, encoder_decoder=encoder_decoder)
    return masked_nll(logits, batch["labels"], shift=not encoder_decoder, reduction=reduction)
