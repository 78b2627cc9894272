"""Decoding from a model being trained or loaded locally: chat rendering, decoding arguments, and generation that
works with FSDP-sharded weights (gathered parameters, the collective forward of every rank, the root unit).

The external LLM calls (teachers, judges, proposers) and their cache are ``lit_agents.generation``; it uses
:func:`sample_with_model` for its local transformers backend.
"""
from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch

from lit_agents.backbone import is_encoder_decoder
from lit_agents.prompts import Prompt


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """Cut ``text`` at the earliest stop string (the stop string itself is removed)."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return text[:cut] if cut >= 0 else text


def render_prompts(tokenizer, prompts: Sequence[Prompt], apply_chat_template: bool | None = None) -> list[str]:
    """Chat messages go through the tokenizer's chat template (with the generation prompt); strings stay
    as they are unless ``apply_chat_template`` is True (then they become one user turn)."""
    has_template = getattr(tokenizer, "chat_template", None) is not None
    out = []
    for p in prompts:
        if isinstance(p, str) and not apply_chat_template:
            out.append(p)
            continue
        messages = [{"role": "user", "content": p}] if isinstance(p, str) else p
        if not has_template:
            raise ValueError("chat messages were given but the tokenizer has no chat template")
        out.append(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    return out


@contextlib.contextmanager
def gathered_params(module: torch.nn.Module | None):
    """Whole FSDP parameters for code that reads them outside any unit's forward, gathered where torch allows.

    Pass the LightningModule (its trainer's wrapped root is used) or any module. Under
    ``BackboneFSDPStrategy`` the root owns no parameters (every block and every outermost transformers model
    is a unit that gathers its own in its forward, and :func:`model_generate` routes ``generate`` through
    the unit), so there is nothing to gather and this is a no-op, inside the root's forward or not. A root
    that does own parameters (a plain ``FSDPStrategy`` wrap) gets them summoned read-only for the duration,
    outside its forward; inside it (a ``training_step``) torch forbids that and its pre-forward has gathered
    them already. Without FSDP: a no-op.
    """
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.distributed.fsdp._common_utils import TrainingState

    root = module
    trainer = getattr(module, "_trainer", None)
    if trainer is not None and getattr(trainer.strategy, "model", None) is not None:
        root = trainer.strategy.model
    outer = next((m for m in root.modules() if isinstance(m, FSDP)), None) if root is not None else None
    if outer is None or getattr(outer, "_handle", None) is None \
            or getattr(outer, "training_state", TrainingState.IDLE) != TrainingState.IDLE:
        yield
        return
    with FSDP.summon_full_params(outer, writeback=False, recurse=True):
        yield


def forward_is_collective(model: torch.nn.Module) -> bool:
    """Under FSDP with more than one rank every forward of ``model`` gathers shards with the other ranks: every
    rank must then run as many forwards as the others (decoding steps, scoring chunks)."""
    import torch.distributed as dist
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    return isinstance(model, FSDP) and dist.is_initialized() and dist.get_world_size() > 1


def max_over_ranks(model: torch.nn.Module, n: int) -> int:
    """The largest ``n`` over the ranks when ``model``'s forward is a collective (else ``n``)."""
    if not forward_is_collective(model):
        return n
    import torch.distributed as dist

    t = torch.tensor([n], dtype=torch.long, device=next(model.parameters()).device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def through_unit(model: torch.nn.Module, fn, *args: Any, **kwargs: Any) -> Any:
    """``fn(module, *args, **kwargs)`` run inside ``model``'s forward when ``model`` is an FSDP unit
    (``BackboneFSDPStrategy`` makes every outermost transformers model one), so the unit's weights are gathered
    for code that does not go through its forward (``generate``, calling ``get_encoder()`` directly); each
    transformer block gathers its own in its forward. Works inside the root's forward (Lightning's steps) and
    outside it alike. Otherwise (no FSDP, or inside ``summon_full_params``) just ``fn(model, ...)``."""
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.distributed.fsdp._common_utils import TrainingState

    if not isinstance(model, FSDP) or model.training_state == TrainingState.SUMMON_FULL_PARAMS:
        return fn(model, *args, **kwargs)
    inner = model.module
    forward = inner.forward

    def redirected(*a: Any, **kw: Any) -> Any:
        inner.forward = forward  # fn may call the real forward
        return fn(inner, *a, **kw)

    inner.forward = redirected
    try:
        return model(*args, **kwargs)
    finally:
        inner.forward = forward


def model_generate(model: torch.nn.Module, **kwargs: Any) -> torch.Tensor:
    """``model.generate(**kwargs)``, also when ``model`` is an FSDP unit (see :func:`through_unit`); under FSDP
    transformers' ``generate`` keeps every rank decoding until all are done (``synced_gpus``)."""
    return through_unit(model, lambda m, **kw: m.generate(**kw), **kwargs)


@torch.no_grad()
def decoding_kwargs(*, do_sample: bool, temperature: float = 1.0, top_p: float = 1.0,
                    top_k: int | None = None) -> dict[str, Any]:
    """Every decoding-strategy setting of ``generate`` stated explicitly, so that a hub model's own
    ``generation_config`` (e.g. BART's 4 beams, trigram blocking and length penalty) cannot silently replace
    what a method asked for: greedy (``do_sample=False``) or plain temperature / top-p sampling (top-k off
    unless given), one beam, no n-gram blocking, no repetition penalty, no minimum length."""
    kw: dict[str, Any] = dict(do_sample=do_sample, num_beams=1, no_repeat_ngram_size=0,
                              encoder_no_repeat_ngram_size=0, repetition_penalty=1.0, length_penalty=1.0,
                              min_length=0)
    if do_sample:
        kw.update(temperature=temperature, top_p=top_p, top_k=top_k or 0, typical_p=1.0, epsilon_cutoff=0.0,
                  eta_cutoff=0.0)
    else:
        kw.update(temperature=1.0, top_p=1.0, top_k=0)
    return kw


def sample_with_model(model: torch.nn.Module, tokenizer, prompts: Sequence[Prompt], *, max_new_tokens: int = 128,
                      temperature: float = 0.0, top_p: float = 1.0, stop: Sequence[str] | None = None,
                      num_return_sequences: int = 1, apply_chat_template: bool | None = None,
                      max_prompt_length: int | None = None, seed: int | None = None) -> list[str]:
    """Generate with a local (possibly training) model; returns ``len(prompts) * num_return_sequences`` texts,
    grouped by prompt. Decoder-only prompts are left-padded; the prompt is stripped from the output."""
    texts = render_prompts(tokenizer, prompts, apply_chat_template)
    enc_dec = is_encoder_decoder(model)
    side = tokenizer.padding_side
    tokenizer.padding_side = "right" if enc_dec else "left"
    try:
        enc = tokenizer(texts, return_tensors="pt", padding=True, truncation=max_prompt_length is not None,
                        max_length=max_prompt_length, add_special_tokens=enc_dec or tokenizer.bos_token is not None)
    finally:
        tokenizer.padding_side = side
    device = next(model.parameters()).device
    enc = {k: v.to(device) for k, v in enc.items()}
    do_sample = temperature > 0
    if seed is not None:
        torch.manual_seed(seed)
    gen_kwargs: dict[str, Any] = dict(max_new_tokens=max_new_tokens, num_return_sequences=num_return_sequences,
                                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                                      **decoding_kwargs(do_sample=do_sample, temperature=temperature, top_p=top_p))
    if stop:
        gen_kwargs.update(stop_strings=list(stop), tokenizer=tokenizer)
    was_training = model.training
    model.eval()
    try:
        out = model_generate(model, **enc, **gen_kwargs)
    finally:
        model.train(was_training)
    if not enc_dec:
        out = out[:, enc["input_ids"].shape[1]:]
    decoded = tokenizer.batch_decode(out, skip_special_tokens=True)
    return [truncate_at_stop(t, stop or []) for t in decoded]
