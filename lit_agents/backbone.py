"""Load a transformers model + tokenizer from a hub name, a local directory, or a tiny spec.

Every method that trains a language model takes a :class:`BackboneConfig`, so the same YAML key
(``model.init_args.backbone``) switches between a 2-layer model built on the fly (tests, CPU defaults)
and a paper-scale checkpoint (``name_or_path: google/flan-t5-base``).
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

log = logging.getLogger(__name__)

Task = Literal["causal", "seq2seq"]

# A minimal chat template for tiny causal models whose offline tokenizer has none: role header, content,
# end-of-sequence token, so the SFT loss covers the end of each assistant turn.
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@dataclass
class LoRASpec:
    """LoRA adapter settings passed to ``peft.LoraConfig``.

    Args:
        r: adapter rank.
        alpha: scaling numerator (the update is scaled by ``alpha / r``).
        dropout: dropout on the adapter input.
        target_modules: module names to adapt, or ``all-linear``.
    """

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] | str = "all-linear"


@dataclass
class TinySpec:
    """A small model built from a transformers config, with a tokenizer that needs no files.

    ``tokenizer="byt5"`` uses ``ByT5Tokenizer()`` (bytes, no files); ``"bpe"`` trains a byte-level BPE with
    ``tokenizers`` on ``bpe_corpus`` (text or jsonl files) at start-up, deterministically.

    Args:
        arch: ``llama`` (causal), ``t5`` or ``bart`` (encoder-decoder).
        d_model: hidden size.
        n_layers: layers (per stack for encoder-decoders).
        n_heads: attention heads.
        d_ff: feed-forward size.
        tokenizer: ``byt5`` (bytes, no files) or ``bpe`` (trained on ``bpe_corpus`` at start-up).
        bpe_vocab_size: BPE vocabulary size.
        bpe_corpus: text or jsonl files the BPE is trained on.
        max_positions: longest sequence the position embeddings cover.
    """

    arch: Literal["t5", "bart", "llama"] = "llama"
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 128
    tokenizer: Literal["byt5", "bpe"] = "byt5"
    bpe_vocab_size: int = 2000
    bpe_corpus: list[str] = field(default_factory=list)
    max_positions: int = 2048


@dataclass
class BackboneConfig:
    """Where the model comes from and how it is prepared for training.

    Exactly one of ``name_or_path`` (hub name or local directory) and ``tiny`` must be set (on the command
    line, setting one replaces the other).

    Args:
        name_or_path: hub model name or local directory.
        tiny: a small model built from a config instead (tests, CPU defaults).
        dtype: ``float32``, ``bfloat16``, ``float16`` or ``auto``.
        gradient_checkpointing: recompute activations in the backward pass to save memory.
        lora: train LoRA adapters instead of all weights.
        trust_remote_code: allow a hub model's own code (never on unless set).
        revision: hub revision (branch, tag or commit) of ``name_or_path``.
    """

    name_or_path: str | None = None
    tiny: TinySpec | None = None
    dtype: str = "float32"
    gradient_checkpointing: bool = False
    lora: LoRASpec | None = None
    trust_remote_code: bool = False
    revision: str | None = None

    def build(self, task: Task | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        return load_backbone(self, task)


class BackboneUnavailableError(RuntimeError):
    """A hub model was asked for but cannot be fetched here."""


def _torch_dtype(name: str) -> torch.dtype | str:
    if name == "auto":
        return "auto"
    try:
        return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
                "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}[name]
    except KeyError:
        raise ValueError(f"backbone.dtype: unknown dtype {name!r} (float32, bfloat16, float16, auto)") from None


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Cheap check whether the hub endpoint accepts a TCP connection (avoids minutes of retries offline)."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def build_tiny_tokenizer(spec: TinySpec, task: Task) -> PreTrainedTokenizerBase:
    """The offline tokenizer of a tiny spec; causal tokenizers get :data:`TINY_CHAT_TEMPLATE`."""
    if spec.tokenizer == "byt5":
        from transformers import ByT5Tokenizer

        tok = ByT5Tokenizer()
    elif spec.tokenizer == "bpe":
        tok = _train_bpe(spec)
        if task == "seq2seq":  # like T5/ByT5: every sequence ends with </s>, so a seq2seq target learns to stop
            from tokenizers.processors import TemplateProcessing

            eos = tok.eos_token
            tok.backend_tokenizer.post_processor = TemplateProcessing(
                single=f"$A {eos}", pair=f"$A {eos} $B {eos}", special_tokens=[(eos, tok.eos_token_id)])
    else:  # pragma: no cover - Literal guards this under the CLI
        raise ValueError(f"backbone.tiny.tokenizer: unknown tokenizer {spec.tokenizer!r}")
    if task == "causal" and tok.chat_template is None:
        tok.chat_template = TINY_CHAT_TEMPLATE
    return tok


def _corpus_lines(paths: list[str]):
    import json

    for p in paths:
        with open(p, encoding="utf-8") as f:
            for line in f:
                if p.endswith(".jsonl"):
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    yield " ".join(str(v) for v in rec.values() if isinstance(v, str))
                else:
                    yield line


def _train_bpe(spec: TinySpec) -> PreTrainedTokenizerBase:
    """Train a byte-level BPE with `tokenizers` (no files needed at run time beyond the corpus)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if not spec.bpe_corpus:
        raise ValueError("backbone.tiny.bpe_corpus: the 'bpe' tokenizer needs at least one corpus file")
    special = ["<pad>", "</s>", "<unk>", "<s>", "<mask>"]
    tk = Tokenizer(models.BPE(unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=spec.bpe_vocab_size, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tk.train_from_iterator(_corpus_lines(spec.bpe_corpus), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   bos_token="<s>", mask_token="<mask>")


def _tiny_model(spec: TinySpec, tok: PreTrainedTokenizerBase) -> PreTrainedModel:
    vocab = len(tok)
    pad, eos = tok.pad_token_id, tok.eos_token_id
    bos = tok.bos_token_id if tok.bos_token_id is not None else eos
    if spec.d_model % spec.n_heads:
        raise ValueError(f"backbone.tiny: d_model={spec.d_model} must be divisible by n_heads={spec.n_heads}")
    if spec.arch == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        cfg = LlamaConfig(vocab_size=vocab, hidden_size=spec.d_model, intermediate_size=spec.d_ff,
                          num_hidden_layers=spec.n_layers, num_attention_heads=spec.n_heads,
                          num_key_value_heads=spec.n_heads, max_position_embeddings=spec.max_positions,
                          pad_token_id=pad, bos_token_id=bos, eos_token_id=eos, tie_word_embeddings=True)
        return LlamaForCausalLM(cfg)
    if spec.arch == "t5":
        from transformers import T5Config, T5ForConditionalGeneration

        cfg = T5Config(vocab_size=vocab, d_model=spec.d_model, d_kv=spec.d_model // spec.n_heads, d_ff=spec.d_ff,
                       num_layers=spec.n_layers, num_decoder_layers=spec.n_layers, num_heads=spec.n_heads,
                       pad_token_id=pad, eos_token_id=eos, decoder_start_token_id=pad)
        return T5ForConditionalGeneration(cfg)
    if spec.arch == "bart":
        from transformers import BartConfig, BartForConditionalGeneration

        cfg = BartConfig(vocab_size=vocab, d_model=spec.d_model, encoder_layers=spec.n_layers,
                         decoder_layers=spec.n_layers, encoder_attention_heads=spec.n_heads,
                         decoder_attention_heads=spec.n_heads, encoder_ffn_dim=spec.d_ff, decoder_ffn_dim=spec.d_ff,
                         max_position_embeddings=spec.max_positions, pad_token_id=pad, bos_token_id=bos,
                         eos_token_id=eos, decoder_start_token_id=eos, forced_eos_token_id=eos)
        return BartForConditionalGeneration(cfg)
    raise ValueError(f"backbone.tiny.arch: unknown architecture {spec.arch!r} (t5, bart, llama)")


def _load_pretrained(cfg: BackboneConfig, task: Task | None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, Task]:
    name = cfg.name_or_path
    assert name is not None
    local = Path(name).expanduser().is_dir()
    kwargs = dict(trust_remote_code=cfg.trust_remote_code, revision=cfg.revision)
    try:  # the local cache (or directory) first: no network needed
        hf_cfg = AutoConfig.from_pretrained(name, local_files_only=True, **kwargs)
        offline = True
    except OSError as e:
        if local:
            raise BackboneUnavailableError(
                f"backbone.name_or_path: {name!r} is a directory without a model config") from e
        if not _hub_reachable():
            raise BackboneUnavailableError(
                f"backbone.name_or_path: {name!r} is not in the local Hugging Face cache and the hub cannot be "
                "reached (no network, or HF_HUB_OFFLINE=1). Download it where there is network and point "
                "`name_or_path` at the local directory, or use a tiny spec (`backbone.tiny: {arch: llama}`)."
            ) from None
        hf_cfg = AutoConfig.from_pretrained(name, **kwargs)
        offline = False
    task = task or ("seq2seq" if getattr(hf_cfg, "is_encoder_decoder", False) else "causal")
    auto = AutoModelForSeq2SeqLM if task == "seq2seq" else AutoModelForCausalLM
    model = auto.from_pretrained(name, dtype=_torch_dtype(cfg.dtype), local_files_only=offline, **kwargs)
    tok = AutoTokenizer.from_pretrained(name, local_files_only=offline, **kwargs)
    return model, tok, task


def load_backbone(cfg: BackboneConfig, task: Task | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Build the model and tokenizer described by ``cfg``.

    ``task`` forces a causal or seq2seq head; by default a tiny spec's arch and a hub config's
    ``is_encoder_decoder`` decide. The tokenizer always has a pad token.
    """
    if (cfg.name_or_path is None) == (cfg.tiny is None):
        raise ValueError("backbone: set exactly one of `name_or_path` and `tiny`")
    if cfg.tiny is not None:
        spec = cfg.tiny if isinstance(cfg.tiny, TinySpec) else TinySpec(**cfg.tiny)
        inferred: Task = "causal" if spec.arch == "llama" else "seq2seq"
        if task is not None and task != inferred:
            raise ValueError(
                f"backbone.tiny.arch: {spec.arch!r} builds a {inferred} model but this method needs {task}")
        task = inferred
        tok = build_tiny_tokenizer(spec, task)
        model = _tiny_model(spec, tok).to(_torch_dtype(cfg.dtype) if cfg.dtype != "auto" else torch.float32)
    else:
        model, tok, task = _load_pretrained(cfg, task)
    if tok.pad_token is None:  # common for Llama-family tokenizers
        tok.pad_token = tok.eos_token
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if cfg.lora is not None:
        model = apply_lora(model, cfg.lora, task)
    return model, tok


def apply_lora(model: PreTrainedModel, spec: LoRASpec | dict, task: Task) -> PreTrainedModel:
    """Wrap ``model`` with a LoRA adapter; only adapter weights stay trainable."""
    from peft import LoraConfig, TaskType, get_peft_model

    spec = spec if isinstance(spec, LoRASpec) else LoRASpec(**spec)
    lcfg = LoraConfig(r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                      target_modules=spec.target_modules,
                      task_type=TaskType.SEQ_2_SEQ_LM if task == "seq2seq" else TaskType.CAUSAL_LM)
    if getattr(model, "is_gradient_checkpointing", False):
        model.enable_input_require_grads()  # checkpointed blocks need a grad-requiring input under LoRA
    return get_peft_model(model, lcfg)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The underlying transformers model of a peft wrapper (config, generation config, block classes)."""
    base = getattr(model, "get_base_model", None)
    return base() if callable(base) else model


def is_encoder_decoder(model: torch.nn.Module) -> bool:
    return bool(getattr(unwrap(model).config, "is_encoder_decoder", False))


def transformer_block_classes(model: torch.nn.Module) -> set[type]:
    """The classes FSDP should wrap one by one: the ``_no_split_modules`` of every transformers model inside
    ``model`` (which may be a LightningModule holding a policy, a reference model, ...)."""
    names: set[str] = set()
    for m in model.modules():
        names.update(getattr(m, "_no_split_modules", None) or [])
    return {type(m) for m in model.modules() if type(m).__name__ in names}


def zero_dropout(model: torch.nn.Module) -> None:
    """Set every dropout probability of ``model`` to 0: ``nn.Dropout`` modules and the functional rates that
    attention layers keep as floats (T5, BART, Llama)."""
    for mod in model.modules():
        if isinstance(mod, torch.nn.Dropout):
            mod.p = 0.0
        for attr in ("dropout", "attention_dropout"):
            if isinstance(getattr(mod, attr, None), float):
                setattr(mod, attr, 0.0)
