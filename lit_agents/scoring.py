"""Rank answer options by a causal LM's likelihood (TruthfulQA MC1, BIG-bench HHH and any multiple choice).

``log p(choice | context) = sum_t log p(choice_t | context, choice_<t)``, BIG-bench's ``multiple_choice_grade``
scoring (unnormalised sum); ``normalize="mean"`` divides by the number of choice tokens instead. Context and
choice are tokenized separately and concatenated, so the choice's tokens are exactly the scored span.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from lit_agents.losses.sft import IGNORE_INDEX, masked_nll
from lit_agents.sampling.policy import max_over_ranks


def _encode_pair(tokenizer, context: str, choice: str, max_length: int) -> tuple[list[int], list[int]]:
    ctx = tokenizer(context, add_special_tokens=False)["input_ids"]
    if tokenizer.bos_token_id is not None:
        ctx = [tokenizer.bos_token_id] + ctx
    ans = tokenizer(choice, add_special_tokens=False)["input_ids"]
    if not ans:
        raise ValueError(f"choice {choice!r} tokenizes to nothing")
    if len(ans) >= max_length:
        raise ValueError(f"choice of {len(ans)} tokens does not fit max_length={max_length}")
    ctx = ctx[-(max_length - len(ans)):]  # keep the end of the context (the question) when too long
    return ctx, ans


@torch.no_grad()
def choice_logprobs(model: torch.nn.Module, tokenizer, contexts: Sequence[str], choices: Sequence[Sequence[str]], *,
                    max_length: int = 1024, batch_size: int = 16,
                    normalize: Literal["sum", "mean"] = "sum") -> list[list[float]]:
    """Log-likelihood of every choice of every item under a decoder-only ``model``."""
    pairs = [(i, c) for i, cs in enumerate(choices) for c in cs]
    rows = [_encode_pair(tokenizer, contexts[i], c, max_length) for i, c in pairs]
    device = next(model.parameters()).device
    scores: list[float] = []
    starts = list(range(0, len(rows), batch_size))
    # FSDP: every rank runs as many forwards as the busiest one (the extra ones re-score a chunk, discarded)
    extra = max_over_ranks(model, len(starts)) - len(starts)
    for n_call, s in enumerate(starts + [starts[-1] if starts else 0] * extra):
        if n_call >= len(starts) and not rows:
            rows = [_encode_pair(tokenizer, "", tokenizer.eos_token or " ", max_length)]
        chunk = rows[s:s + batch_size]
        width = max(len(a) + len(b) for a, b in chunk)
        ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        labels = torch.full_like(ids, IGNORE_INDEX)
        for r, (a, b) in enumerate(chunk):
            n = len(a) + len(b)
            ids[r, :n] = torch.tensor(a + b)
            mask[r, :n] = 1
            labels[r, len(a):n] = torch.tensor(b)
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        nll = masked_nll(logits, labels.to(device), shift=True, reduction="none")
        if normalize == "mean":
            nll = nll / torch.tensor([len(b) for _, b in chunk], device=nll.device)
        if n_call < len(starts):
            scores.extend((-nll).tolist())
    out, k = [], 0
    for cs in choices:
        out.append(scores[k:k + len(cs)])
        k += len(cs)
    return out


def pick_best(scores: Sequence[Sequence[float]]) -> list[int]:
    """Index of the highest score per item (the first on exact ties)."""
    return [max(range(len(s)), key=lambda j: (s[j], -j)) for s in scores]


def ranked_choice_correct(scores: Sequence[Sequence[float]], labels: Sequence[int]) -> list[bool]:
    """Whether the labelled choice scored strictly highest (an exact tie with another choice is wrong,
    so a model that cannot tell the options apart earns nothing)."""
    out = []
    for s, y in zip(scores, labels):
        out.append(all(s[y] > v for j, v in enumerate(s) if j != y))
    return out
