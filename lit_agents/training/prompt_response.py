"""Prompt/response pairs to training tensors: rendering at the chat template's exact boundary, tokenising with
the loss mask on response tokens only, packing, and the loud start-up check of that mask (used by SFT,
IterAlign's SFT step, RM-R1 stage 1 and the seq2seq QA methods).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from lit_agents.losses.sft import IGNORE_INDEX
from lit_agents.prompts import Prompt

log = logging.getLogger(__name__)


def _render_pair(tokenizer, prompt: Prompt, response: str, apply_chat_template: bool) -> tuple[str, str, bool]:
    """(prompt_text, response_text, eos_in_text): split at the exact boundary the chat template produces."""
    use_template = getattr(tokenizer, "chat_template", None) is not None and (
        apply_chat_template or not isinstance(prompt, str))
    if not use_template:
        if not isinstance(prompt, str):
            raise ValueError("chat messages were given but the tokenizer has no chat template")
        return prompt, response, False
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    head = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": response}], tokenize=False)
    if not full.startswith(head):
        raise ValueError("the chat template does not render the prompt as a prefix of prompt+response; "
                         "cannot locate the response tokens to train on")
    return head, full[len(head):], True


def tokenize_prompt_response(tokenizer, prompts: Sequence[Prompt], responses: Sequence[str], *, max_length: int,
                             encoder_decoder: bool, apply_chat_template: bool = True) -> dict[str, torch.Tensor]:
    """Tensors for a response-only loss: ``input_ids``, ``attention_mask``, ``labels`` (-100 on prompt and pad).

    Decoder-only: ``[bos] prompt response eos`` truncated on the right to ``max_length``, right-padded.
    Encoder-decoder: the prompt (truncated) to the encoder, ``response eos`` as labels.
    """
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    pad = tokenizer.pad_token_id
    eos = tokenizer.eos_token_id
    if encoder_decoder:
        src = [p if isinstance(p, str) else _render_pair(tokenizer, p, "", True)[0] for p in prompts]
        enc = tokenizer(src, max_length=max_length, truncation=True, padding=True, return_tensors="pt")
        lab = tokenizer(list(responses), max_length=max_length, truncation=True, padding=True, return_tensors="pt")
        labels = lab["input_ids"].masked_fill(lab["attention_mask"] == 0, IGNORE_INDEX)
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}
    rows, label_rows = [], []
    for p, r in zip(prompts, responses):
        head, tail, templated = _render_pair(tokenizer, p, r, apply_chat_template)
        p_ids = tokenizer(head, add_special_tokens=False)["input_ids"]
        r_ids = tokenizer(tail, add_special_tokens=False)["input_ids"]
        if not templated:
            if tokenizer.bos_token_id is not None:
                p_ids = [tokenizer.bos_token_id] + p_ids
            r_ids = r_ids + [eos]
        ids = (p_ids + r_ids)[:max_length]
        labels = ([IGNORE_INDEX] * len(p_ids) + r_ids)[:max_length]
        rows.append(ids)
        label_rows.append(labels)
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    for i, (ids, lab) in enumerate(zip(rows, label_rows)):
        input_ids[i, :len(ids)] = torch.tensor(ids)
        attention[i, :len(ids)] = 1
        labels[i, :len(lab)] = torch.tensor(lab)
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def pack_batch(batch: dict[str, torch.Tensor], max_length: int, pad_token_id: int) -> dict[str, torch.Tensor]:
    """Greedily concatenate the unpadded rows of a decoder-only batch into rows of at most ``max_length``.

    Position ids restart at each example. As in TRL's classic packing, attention is not blocked between
    packed examples under SDPA/eager attention; use it for throughput on many short examples.
    """
    seqs = []
    for ids, mask, lab in zip(batch["input_ids"], batch["attention_mask"], batch["labels"]):
        n = int(mask.sum())
        seqs.append((ids[:n], lab[:n]))
    rows: list[list[tuple[torch.Tensor, torch.Tensor]]] = [[]]
    used = 0
    for ids, lab in seqs:
        if used + len(ids) > max_length and rows[-1]:
            rows.append([])
            used = 0
        rows[-1].append((ids, lab))
        used += len(ids)
    width = max(sum(len(i) for i, _ in r) for r in rows)
    out_ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    out_lab = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    out_mask = torch.zeros((len(rows), width), dtype=torch.long)
    out_pos = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids = torch.cat([x for x, _ in r])
        out_ids[i, :len(ids)] = ids
        out_lab[i, :len(ids)] = torch.cat([y for _, y in r])
        out_mask[i, :len(ids)] = 1
        out_pos[i, :len(ids)] = torch.cat([torch.arange(len(x)) for x, _ in r])
    return {"input_ids": out_ids, "attention_mask": out_mask, "labels": out_lab, "position_ids": out_pos}


def check_loss_mask(tokenizer, batch: dict[str, torch.Tensor], *, encoder_decoder: bool) -> str:
    """Fail loudly on the silent SFT bugs (a mask of all ones / all ignored, a dropped end-of-turn token);
    return one rendered sample with the trained part in ⟦…⟧ for the step-0 log."""
    labels, ids = batch["labels"], batch["input_ids"]
    trained = labels != IGNORE_INDEX
    if not trained.any():
        raise ValueError("SFT: no response token survives truncation in this batch; raise `max_length`")
    if not encoder_decoder:
        attended = batch["attention_mask"].bool()
        if bool((trained == attended).all()):
            raise ValueError("SFT: the loss mask covers the prompt too (every token is trained on)")
    row = int(trained.any(dim=1).nonzero()[0])
    lab = labels[row][trained[row]]
    if tokenizer.eos_token_id not in lab.tolist() and (encoder_decoder or lab.numel() < ids.shape[1]):
        log.warning("SFT: the trained tokens of a sample do not include the end-of-sequence token; the model "
                    "may never learn to stop (truncated by max_length, or the chat template drops it)")
    if encoder_decoder:
        return tokenizer.decode(ids[row], skip_special_tokens=True) + " ⟦" + tokenizer.decode(lab) + "⟧"
    n = int(batch["attention_mask"][row].sum())
    first = int(trained[row].nonzero()[0])
    return tokenizer.decode(ids[row][:first]) + "⟦" + tokenizer.decode(ids[row][first:n]) + "⟧"
