"""Multi-turn tool-calling rollouts for GRPO: generate a turn, execute its tool calls in a
:class:`~lit_agents.tools.environment.ToolEnvironment`, append the results as an ``<obs>`` turn, generate
again — until the model answers (``<response>``), stops without calling a tool, or ``max_turns`` is reached.

The episode's completion is every token after the prompt: the sampled turns (``completion_mask`` 1, they get
the policy gradient) and the observation turns between them (mask 0: the environment wrote them, the loss
never sees them). Generated ids are kept as sampled; only the observation text is tokenised. The log-probs
the loss recomputes condition each turn on everything before it, observations included, exactly as in
generation (decoder-only: one left-padded sequence; encoder-decoder: the decoder continues its own prefix).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from lit_agents.sampling.group_rollout import Rollout, _pad, completion_mask_from_ids, generate_rollout
from lit_agents.tools.parsing import extract_tool_calls

if TYPE_CHECKING:  # the rollout only calls env.reset / env.step; the environment (with its search corpus) sits above
    from lit_agents.tools.environment import ToolEnvironment


@dataclass
class ToolRollout(Rollout):
    """A :class:`Rollout` whose completions are whole tool-use episodes."""

    num_turns: Tensor | None = None       # [B] model turns per episode
    num_tool_calls: Tensor | None = None  # [B] tool calls executed per episode


def _decoder_start(model) -> int:
    start = getattr(model.config, "decoder_start_token_id", None)
    return model.generation_config.decoder_start_token_id if start is None else start


@torch.no_grad()
def _continue_encoder_decoder(model, tokenizer, enc_ids: Tensor, enc_mask: Tensor, prefix: list[int], *,
                              max_new_tokens: int, stop: list[str], do_sample: bool, temperature: float,
                              top_p: float, top_k: int | None) -> tuple[list[int], bool]:
    """One more turn of an encoder-decoder episode: the decoder continues from its own ``prefix``."""
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    dec = torch.tensor([[_decoder_start(model)] + prefix], device=enc_ids.device)
    kwargs: dict[str, Any] = dict(max_new_tokens=max_new_tokens, pad_token_id=pad, eos_token_id=eos,
                                  do_sample=do_sample, repetition_penalty=1.0)
    if stop:
        kwargs.update(stop_strings=list(stop), tokenizer=tokenizer)
    if do_sample:
        kwargs.update(temperature=temperature, top_p=top_p, top_k=top_k or 0)
    if pad is not None and pad != eos:
        kwargs["suppress_tokens"] = [pad]
    was_training = model.training
    model.eval()
    try:
        out = model.generate(input_ids=enc_ids, attention_mask=enc_mask, decoder_input_ids=dec, **kwargs)
    finally:
        model.train(was_training)
    new = out[:, dec.shape[1]:]
    if new.shape[1] == 0:
        return [], True
    mask, terminated = completion_mask_from_ids(new, eos, pad)
    toks = new[0][mask[0].bool()].tolist()
    return toks, bool(terminated[0]) or len(toks) < new.shape[1]


@torch.no_grad()
def generate_tool_rollout(model, tokenizer, prompt_rows: list[list[int]], records: Sequence[Mapping[str, Any]],
                          env: ToolEnvironment, *, encoder_decoder: bool, num_generations: int,
                          max_completion_length: int, temperature: float = 1.0, top_p: float = 1.0,
                          top_k: int | None = None, stop: Sequence[str] | None = None, do_sample: bool = True,
                          first_turns: Sequence[str] | None = None) -> ToolRollout:
    """Sample ``num_generations`` tool-use episodes per tokenised prompt (rows grouped by prompt).

    ``max_completion_length`` bounds each turn's new tokens. ``first_turns`` (one text per prompt) replaces
    the sampled first turn — a scripted opening to force a tool call (tests, demonstrations); its tokens are
    trained like sampled ones.
    """
    G = num_generations
    stops = list(dict.fromkeys([*(stop or []), *env.stop_strings]))
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    B = len(prompt_rows) * G
    episodes = [env.fork().reset(records[i // G]) for i in range(B)]
    hist: list[list[int]] = [[] for _ in range(B)]
    keep: list[list[int]] = [[] for _ in range(B)]
    terminated = [False] * B
    device = next(model.parameters()).device
    grouped = [r for r in prompt_rows for _ in range(G)]
    p_ids, p_mask = _pad(grouped, pad, left=not encoder_decoder)
    p_ids, p_mask = p_ids.to(device), p_mask.to(device)
    new: dict[int, tuple[list[int], bool]] = {}
    if first_turns is not None:
        for i in range(B):
            new[i] = (tokenizer(first_turns[i // G], add_special_tokens=False)["input_ids"], True)
    else:  # one row per episode (greedy generate cannot return several sequences per prompt)
        first = generate_rollout(model, tokenizer, grouped, encoder_decoder=encoder_decoder, num_generations=1,
                                 max_completion_length=max_completion_length, temperature=temperature, top_p=top_p,
                                 top_k=top_k, stop=stops, do_sample=do_sample)
        for i in range(B):
            new[i] = (first.completion_ids[i][first.completion_mask[i].bool()].tolist(), bool(first.terminated[i]))
    active: list[int] = []
    while new:
        active = []
        for i, (toks, ended) in new.items():
            ep = episodes[i]
            ep.turn += 1
            hist[i] += toks
            keep[i] += [1] * len(toks)
            text = tokenizer.decode(toks, skip_special_tokens=True)
            calls = extract_tool_calls(text)
            hit_eos = bool(toks) and toks[-1] == eos
            terminated[i] = ended
            if not ended or hit_eos or ep.finished(text, calls is not None):
                continue
            obs = tokenizer(ep.observation_text(ep.step(calls)), add_special_tokens=False)["input_ids"]
            hist[i] += obs
            keep[i] += [0] * len(obs)
            active.append(i)
        new = {}
        if not active:
            break
        if encoder_decoder:
            for i in active:
                new[i] = _continue_encoder_decoder(
                    model, tokenizer, p_ids[i:i + 1], p_mask[i:i + 1], hist[i],
                    max_new_tokens=max_completion_length, stop=stops, do_sample=do_sample,
                    temperature=temperature, top_p=top_p, top_k=top_k)
        else:
            rows = [prompt_rows[i // G] + hist[i] for i in active]
            ro = generate_rollout(model, tokenizer, rows, encoder_decoder=False, num_generations=1,
                                  max_completion_length=max_completion_length, temperature=temperature,
                                  top_p=top_p, top_k=top_k, stop=stops, do_sample=do_sample)
            for j, i in enumerate(active):
                new[i] = (ro.completion_ids[j][ro.completion_mask[j].bool()].tolist(), bool(ro.terminated[j]))
    rows = [h if h else [eos] for h in hist]
    comp, _ = _pad(rows, pad, left=False)
    mask, _ = _pad([k if k else [0] for k in keep], 0, left=False)
    texts = [tokenizer.decode(h, skip_special_tokens=True) for h in hist]
    return ToolRollout(p_ids, p_mask, comp.to(device), mask.to(device), texts,
                       torch.tensor(terminated, device=device),
                       num_turns=torch.tensor([ep.turn for ep in episodes]),
                       num_tool_calls=torch.tensor([ep.calls_made for ep in episodes]))


def render_trained_tokens(tokenizer, ro: Rollout, row: int) -> str:
    """One episode's completion with the trained tokens in ⟦…⟧ (observations stay outside the brackets)."""
    ids, m = ro.completion_ids[row].tolist(), ro.completion_mask[row].tolist()
    n = len(ids)
    while n and m[n - 1] == 0 and ids[n - 1] == tokenizer.pad_token_id:
        n -= 1
    out, start = [], 0
    for j in range(1, n + 1):
        if j == n or m[j] != m[start]:
            piece = tokenizer.decode(ids[start:j], skip_special_tokens=True)
            out.append(f"⟦{piece}⟧" if m[start] else piece)
            start = j
    return "".join(out)
