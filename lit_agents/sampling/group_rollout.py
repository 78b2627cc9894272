"""Sampling a group of completions per prompt and scoring their tokens, for decoder-only and encoder-decoder
policies. Token ids are kept from generation (never re-tokenised from text), so the log-probs the loss uses
are exactly those of the sampled tokens.
"""
from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from lit_agents.backbone import unwrap
from lit_agents.losses.grpo import selective_log_softmax
from lit_agents.prompts import Prompt
from lit_agents.sampling.policy import decoding_kwargs, forward_is_collective, model_generate, render_prompts

log = logging.getLogger(__name__)


@dataclass
class Rollout:
    """One generation batch: ``B = n_prompts × num_generations`` rows, grouped by prompt."""

    prompt_ids: Tensor        # [B, P] (decoder-only: left-padded; encoder-decoder: right-padded encoder input)
    prompt_mask: Tensor       # [B, P]
    completion_ids: Tensor    # [B, C] sampled tokens (for encoder-decoder: without the decoder start token)
    completion_mask: Tensor   # [B, C] 1 on tokens that count (up to and including EOS)
    texts: list[str]          # decoded completions
    terminated: Tensor        # [B] bool: ended with EOS or a stop string (False = cut at max_completion_length)

    def select(self, idx: Tensor) -> Rollout:
        return Rollout(self.prompt_ids[idx], self.prompt_mask[idx], self.completion_ids[idx],
                       self.completion_mask[idx], [self.texts[i] for i in idx.tolist()], self.terminated[idx])


def encode_prompts(tokenizer, prompts: Sequence[Prompt], *, encoder_decoder: bool,
                   apply_chat_template: bool | None) -> list[list[int]]:
    """Token ids of each rendered prompt (chat template for message lists), unpadded."""
    texts = render_prompts(tokenizer, prompts, apply_chat_template)
    add_special = encoder_decoder or tokenizer.bos_token is not None
    return [tokenizer(t, add_special_tokens=add_special)["input_ids"] for t in texts]


def _pad(rows: list[list[int]], pad_id: int, left: bool) -> tuple[Tensor, Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if left:
            ids[i, width - len(r):], mask[i, width - len(r):] = torch.tensor(r), 1
        else:
            ids[i, :len(r)], mask[i, :len(r)] = torch.tensor(r), 1
    return ids, mask


def completion_mask_from_ids(ids: Tensor, eos_id: int, pad_id: int | None) -> tuple[Tensor, Tensor]:
    """Mask tokens after the first EOS (EOS itself counts) and the padding ``generate`` appends once a row
    stops early (stop string). Returns ``(mask, terminated)``."""
    is_end = ids == eos_id
    if pad_id is not None and pad_id != eos_id:
        is_pad = ids == pad_id
        # a pad can only follow a finished row (pad is suppressed while sampling), so it ends the row too
        ended_before = torch.cumsum((is_end | is_pad).long(), dim=1) - (is_end | is_pad).long()
        mask = (ended_before == 0) & ~is_pad
        terminated = (is_end | is_pad).any(dim=1)
    else:
        ended_before = torch.cumsum(is_end.long(), dim=1) - is_end.long()
        mask = ended_before == 0
        terminated = is_end.any(dim=1)
    return mask.long(), terminated


def _processors(temperature: float, top_p: float, top_k: int | None, suppress: list[int]):
    """The logits processors ``generate`` would apply for these settings (transformers' own classes)."""
    from transformers.generation.logits_process import (
        LogitsProcessorList,
        SuppressTokensLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    procs = LogitsProcessorList()
    if suppress:
        procs.append(SuppressTokensLogitsProcessor(suppress))
    if temperature != 1.0:
        procs.append(TemperatureLogitsWarper(temperature))
    if top_k:
        procs.append(TopKLogitsWarper(top_k))
    if top_p < 1.0:
        procs.append(TopPLogitsWarper(top_p))
    return procs


@torch.no_grad()
def sample_decoder_only(model, p_ids: Tensor, p_mask: Tensor, *, num_generations: int, max_new_tokens: int,
                        eos_id: int, pad_id: int, do_sample: bool = True, temperature: float = 1.0,
                        top_p: float = 1.0, top_k: int | None = None) -> Tensor:
    """A lean KV-cached sampling loop for decoder-only policies: the same distribution as ``generate``
    (same processors, positions from the left-padded attention mask, finished rows padded), without its
    per-token bookkeeping, which dominates for small models. Returns ``[B·G, T]`` new tokens (ordinary tensors:
    the loop runs under ``inference_mode``, which skips autograd's version counting)."""
    with torch.inference_mode():
        tokens = _sample_loop(model, p_ids, p_mask, num_generations=num_generations, max_new_tokens=max_new_tokens,
                              eos_id=eos_id, pad_id=pad_id, do_sample=do_sample, temperature=temperature,
                              top_p=top_p, top_k=top_k)
    return tokens.clone()  # outside inference mode: usable as the input of a forward that is differentiated


def _sample_loop(model, p_ids: Tensor, p_mask: Tensor, *, num_generations: int, max_new_tokens: int, eos_id: int,
                 pad_id: int, do_sample: bool, temperature: float, top_p: float, top_k: int | None) -> Tensor:
    synced = forward_is_collective(model)
    ids = p_ids.repeat_interleave(num_generations, dim=0)
    attn = p_mask.repeat_interleave(num_generations, dim=0)
    procs = _processors(temperature, top_p, top_k, [pad_id] if pad_id is not None and pad_id != eos_id else [])
    cache_kw = _cache_kwargs(model)
    # the prompt is encoded once per prompt, not once per sample: its cache and last logits are then repeated
    # for the group (the same values a forward over the repeated rows computes)
    p_pos = (p_mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=p_ids, attention_mask=p_mask, position_ids=p_pos, use_cache=True, logits_to_keep=1,
                **cache_kw)
    next(iter(cache_kw.values())).batch_repeat_interleave(num_generations)
    logits = out.logits[:, -1, :].repeat_interleave(num_generations, dim=0)
    cur = p_pos[:, -1:].repeat_interleave(num_generations, dim=0)
    finished = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    tokens: list[Tensor] = []
    for step in range(max_new_tokens):
        scores = logits.float()
        if do_sample:
            scores = procs(ids, scores)
            nxt = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1).squeeze(1)
        else:
            nxt = scores.argmax(dim=-1)
        nxt = torch.where(finished, torch.full_like(nxt, pad_id), nxt)
        tokens.append(nxt)
        finished |= nxt == eos_id
        if _all_finished(finished, synced) or step == max_new_tokens - 1:
            break
        attn = torch.cat([attn, attn.new_ones(attn.shape[0], 1)], dim=1)
        cur = cur + 1
        logits = model(input_ids=nxt.unsqueeze(1), attention_mask=attn, position_ids=cur, use_cache=True,
                       **cache_kw).logits[:, -1, :]
    return torch.stack(tokens, dim=1)


def _cache_kwargs(model) -> dict[str, Any]:
    """An explicit ``DynamicCache`` passed under the name the installed transformers supports: ``cache`` (5.x;
    ``past_key_values`` is deprecated there, to be removed in 5.40) or ``past_key_values`` (4.x). The cache
    object is updated in place by every forward call, so the same kwargs serve the whole sampling loop."""
    from transformers import DynamicCache

    base = unwrap(model)
    try:
        cache = DynamicCache(config=base.config)
    except TypeError:  # transformers 4.x: DynamicCache() takes no config
        cache = DynamicCache()
    params = inspect.signature(base.forward).parameters
    return {"cache": cache} if "cache" in params else {"past_key_values": cache}


def _all_finished(finished: Tensor, synced: bool) -> bool:
    """Every row has ended, on this rank or (``synced``) on every rank."""
    if not synced:
        return bool(finished.all())
    import torch.distributed as dist

    pending = torch.tensor([0.0 if bool(finished.all()) else 1.0], device=finished.device)
    dist.all_reduce(pending)
    return float(pending) == 0.0


@torch.no_grad()
def generate_rollout(model, tokenizer, prompt_rows: list[list[int]], *, encoder_decoder: bool, num_generations: int,
                     max_completion_length: int, temperature: float = 1.0, top_p: float = 1.0, top_k: int | None = None,
                     stop: Sequence[str] | None = None, do_sample: bool = True) -> Rollout:
    """Sample ``num_generations`` completions for each tokenised prompt (rows grouped by prompt)."""
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    p_ids, p_mask = _pad(prompt_rows, pad, left=not encoder_decoder)
    device = next(model.parameters()).device
    p_ids, p_mask = p_ids.to(device), p_mask.to(device)
    # repetition_penalty / top_k set explicitly: a hub model's generation_config must not change the sampling
    # distribution behind the loss's back (the log-probs only know the temperature)
    kwargs: dict[str, Any] = dict(max_new_tokens=max_completion_length, num_return_sequences=num_generations,
                                  pad_token_id=pad, eos_token_id=eos,
                                  **decoding_kwargs(do_sample=do_sample, temperature=temperature, top_p=top_p,
                                                    top_k=top_k))
    if pad is not None and pad != eos:
        kwargs["suppress_tokens"] = [pad]  # so a pad in the output can only mean "this row had stopped"
    if stop:
        kwargs.update(stop_strings=list(stop), tokenizer=tokenizer)
    was_training = model.training
    model.eval()
    try:
        if encoder_decoder or stop:
            out = model_generate(model, input_ids=p_ids, attention_mask=p_mask, **kwargs)
            comp = out[:, 1:] if encoder_decoder else out[:, p_ids.shape[1]:]
        else:
            comp = sample_decoder_only(model, p_ids, p_mask, num_generations=num_generations,
                                       max_new_tokens=max_completion_length, eos_id=eos, pad_id=pad,
                                       do_sample=do_sample, temperature=temperature, top_p=top_p, top_k=top_k)
    finally:
        model.train(was_training)
    out = comp
    if comp.shape[1] == 0:
        comp = torch.full((out.shape[0], 1), eos, dtype=torch.long, device=out.device)
    mask, terminated = completion_mask_from_ids(comp, eos, pad)
    if stop:  # a row cut by a stop string is finished even though no EOS was sampled
        terminated = terminated | (mask.sum(1) < comp.shape[1])
    texts = [tokenizer.decode(row[m.bool()], skip_special_tokens=True) for row, m in zip(comp, mask)]
    rep = lambda t: t.repeat_interleave(num_generations, dim=0)  # noqa: E731 - generate groups the same way
    return Rollout(rep(p_ids), rep(p_mask), comp, mask, texts, terminated)


def log_first_rollout(tokenizer, ro: Rollout) -> None:
    """Loud-mask check of the first batch: log one prompt + completion with the trained tokens in ⟦…⟧, and
    warn when no completion token is trained at all."""
    if int(ro.completion_mask.sum()) == 0:
        log.warning("GRPO: every completion token is masked in the first batch (all completions empty or "
                    "truncated with mask_truncated_completions); the loss will be zero")
    row_p = ro.prompt_ids[0][ro.prompt_mask[0].bool()]
    trained = ro.completion_ids[0][ro.completion_mask[0].bool()]
    log.info("GRPO step-0 sample (trained tokens in ⟦…⟧):\n%s⟦%s⟧", tokenizer.decode(row_p), tokenizer.decode(trained))


def completion_metrics(ro: Rollout | None) -> dict[str, Tensor | float]:
    """Completion lengths (the tokens that count) and the share cut at ``max_completion_length``, for logging
    (``None``: the same keys at 0, for a step whose every prompt was dropped)."""
    if ro is None:
        return dict.fromkeys(("completions/mean_length", "completions/min_length", "completions/max_length",
                              "completions/clipped_ratio"), 0.0)
    lengths = ro.completion_mask.sum(1).float()
    return {"completions/mean_length": lengths.mean(), "completions/min_length": lengths.min(),
            "completions/max_length": lengths.max(), "completions/clipped_ratio": (~ro.terminated).float().mean()}


def per_token_logps(model, rollout: Rollout, *, encoder_decoder: bool, temperature: float = 1.0) -> Tensor:
    """log π(completion token | prefix) for every completion position, ``[B, C]`` (temperature-scaled)."""
    c_ids = rollout.completion_ids
    if encoder_decoder:
        start = getattr(model.config, "decoder_start_token_id", None)
        if start is None:
            start = model.generation_config.decoder_start_token_id
        dec_in = torch.cat([torch.full_like(c_ids[:, :1], start), c_ids[:, :-1]], dim=1)
        logits = model(input_ids=rollout.prompt_ids, attention_mask=rollout.prompt_mask,
                       decoder_input_ids=dec_in).logits
        return selective_log_softmax(logits, c_ids, temperature)
    ids = torch.cat([rollout.prompt_ids, c_ids], dim=1)
    attn = torch.cat([rollout.prompt_mask, torch.ones_like(c_ids)], dim=1)
    # positions as generate computes them for left-padded prompts (cumsum of the attention mask)
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    c_len = c_ids.shape[1]
    shared = _shared_prompts(model, rollout)
    if shared is not None:
        logits = _logits_over_shared_prompts(model, rollout, *shared, attn, pos)
        return selective_log_softmax(logits, c_ids, temperature)
    if _accepts_logits_to_keep(model):  # the LM head only on the positions that predict completion tokens
        logits = model(input_ids=ids, attention_mask=attn, position_ids=pos, logits_to_keep=c_len + 1).logits
    else:
        logits = model(input_ids=ids, attention_mask=attn, position_ids=pos).logits[:, -(c_len + 1):]
    return selective_log_softmax(logits[:, :-1], c_ids, temperature)


def _accepts_logits_to_keep(model) -> bool:
    base = unwrap(getattr(model, "module", model))  # an FSDP unit's forward takes anything: ask the model
    return "logits_to_keep" in inspect.signature(base.forward).parameters


def _shared_prompts(model, rollout: Rollout) -> tuple[Tensor, Tensor, Tensor] | None:
    """``(unique prompt ids, their mask, row → unique index)`` when rows repeat a prompt (a group's samples),
    else None. Not under FSDP (one forward per unit before backward) nor without a cache API to expand."""
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    if isinstance(model, FSDP) or not hasattr(unwrap(model), "config") or rollout.completion_ids.shape[1] < 1:
        return None
    p = rollout.prompt_ids.shape[1]
    uniq, inverse = torch.unique(torch.cat([rollout.prompt_ids, rollout.prompt_mask], dim=1), dim=0,
                                 return_inverse=True)
    if uniq.shape[0] == rollout.prompt_ids.shape[0]:
        return None
    return uniq[:, :p], uniq[:, p:], inverse


def _logits_over_shared_prompts(model, rollout: Rollout, u_ids: Tensor, u_mask: Tensor, inverse: Tensor,
                                attn: Tensor, pos: Tensor) -> Tensor:
    """The logits that predict each completion token, ``[B, C, V]``, with every distinct prompt encoded once:
    its key/value cache (and the logits of its last position, which predict the first token) are indexed out
    to the rows that share it, and the completions run on top. The same function of the weights as one
    forward over prompt + completion, differentiable through the shared prompt (its gradient sums over the
    group); about G times less prompt work."""
    p, c_ids = rollout.prompt_ids.shape[1], rollout.completion_ids
    cache_kw = _cache_kwargs(model)
    first = model(input_ids=u_ids, attention_mask=u_mask, position_ids=pos[:, :p][_first_rows(inverse)],
                  use_cache=True, logits_to_keep=1, **cache_kw).logits[inverse]
    if c_ids.shape[1] == 1:
        return first
    next(iter(cache_kw.values())).batch_select_indices(inverse)
    rest = model(input_ids=c_ids[:, :-1], attention_mask=attn[:, :-1], position_ids=pos[:, p:-1], use_cache=True,
                 **cache_kw).logits
    return torch.cat([first, rest], dim=1)


def _first_rows(inverse: Tensor) -> Tensor:
    """For each unique index, one row that has it."""
    rows = torch.empty(int(inverse.max()) + 1, dtype=torch.long, device=inverse.device)
    rows[inverse] = torch.arange(inverse.numel(), device=inverse.device)
    return rows
