"""Supervised fine-tuning with the loss on response tokens only (IterAlign's SFT step, RM-R1 stage 1).

Works for decoder-only models (prompt and response in one sequence, prompt tokens masked with -100) and for
encoder-decoder models (prompt to the encoder, response as labels). Records are ``{prompt, response}`` where
``prompt`` is a string or a list of chat messages; the chat template is applied when the tokenizer has one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

from lit_agents.backbone import BackboneConfig
from lit_agents.generation import Prompt, gathered_params, sample_with_model
from lit_agents.logging_utils import log_table
from lit_agents.losses.sft import IGNORE_INDEX, masked_nll, response_logits
from lit_agents.losses.sft_objectives import Objective, check_objective, masked_objective
from lit_agents.methods.base import BackboneModule, Schedule

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


class SFTModule(BackboneModule):
    """Causal-LM (or seq2seq) SFT on ``{prompt, response}`` batches with the loss on response tokens only.

    ``objective`` picks the token loss (:mod:`lit_agents.losses.sft_objectives`, "Beyond Log Likelihood",
    arXiv:2510.00526): ``nll`` (default), ``neg_p``, ``general_family`` (``objective_alpha``) or a thresholded
    variant (``objective_threshold``). ``train/loss`` is the chosen objective; ``val/loss`` stays the NLL so
    runs with different objectives compare on one scale (``val/objective`` is logged too).

    Args:
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: steps of linear learning-rate warm-up.
        scheduler: learning-rate schedule after warm-up: ``constant``, ``linear`` or ``cosine`` decay to 0.
        max_length: tokens of prompt + response kept.
        packing: pack several examples per row.
        apply_chat_template: render prompts with the tokenizer's chat template.
        num_val_samples: validation prompts whose generations are logged as a table.
        val_max_new_tokens: tokens generated per logged validation sample.
        objective: token loss: ``nll``, ``neg_p``, ``general_family``, or a thresholded variant
            (``only_top_p``, ``only_bottom_p``, ``only_top_logp``, ``only_bottom_logp``).
        objective_alpha: the ``general_family`` exponent α in (1 − p^α)/α (α = 10 is the paper's −p¹⁰).
        objective_threshold: the probability threshold q of the thresholded objectives.
    """

    def __init__(self, backbone: BackboneConfig, learning_rate: float = 2e-5, weight_decay: float = 0.0,
                 warmup_steps: int = 0, scheduler: Schedule = "cosine", max_length: int = 512, packing: bool = False,
                 apply_chat_template: bool = True, num_val_samples: int = 4, val_max_new_tokens: int = 64,
                 objective: Objective = "nll", objective_alpha: float = 1.0, objective_threshold: float = 0.5):
        super().__init__(backbone, learning_rate=learning_rate, weight_decay=weight_decay,
                         warmup_steps=warmup_steps, scheduler=scheduler)
        self.save_hyperparameters()
        if max_length < 2:
            raise ValueError(f"model.max_length must be >= 2, got {max_length}")
        if packing and self.encoder_decoder:
            raise ValueError("model.packing: packing applies to decoder-only models only")
        check_objective(objective, objective_alpha, objective_threshold)
        self.objective, self.objective_alpha = objective, objective_alpha
        self.objective_threshold = objective_threshold
        self.max_length, self.packing, self.apply_chat_template = max_length, packing, apply_chat_template
        self.num_val_samples, self.val_max_new_tokens = num_val_samples, val_max_new_tokens
        self._val_prompts: list[tuple[Prompt, str]] = []

    def encode(self, batch: dict[str, list]) -> dict[str, torch.Tensor]:
        enc = tokenize_prompt_response(self.tokenizer, batch["prompt"], batch["response"],
                                       max_length=self.max_length, encoder_decoder=self.encoder_decoder,
                                       apply_chat_template=self.apply_chat_template)
        if self.packing:
            enc = pack_batch(enc, self.max_length, self.tokenizer.pad_token_id)
        return {k: v.to(self.device) for k, v in enc.items()}

    def training_step(self, batch: dict[str, list], batch_idx: int) -> torch.Tensor:
        enc = self.encode(batch)
        if self.global_step == 0 and batch_idx == 0:
            sample = check_loss_mask(self.tokenizer, enc, encoder_decoder=self.encoder_decoder)
            log.info("SFT step-0 sample (trained part in ⟦…⟧):\n%s", sample)
        loss = self.objective_loss(enc)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["response"]))
        return loss

    def objective_loss(self, enc: dict[str, torch.Tensor], logits: torch.Tensor | None = None) -> torch.Tensor:
        """The configured SFT objective on an encoded batch (``logits`` reused when given)."""
        if logits is None:
            logits = response_logits(self.model, enc, encoder_decoder=self.encoder_decoder)
        return masked_objective(logits, enc["labels"], self.objective, alpha=self.objective_alpha,
                                threshold=self.objective_threshold, shift=not self.encoder_decoder)

    def validation_step(self, batch: dict[str, list], batch_idx: int) -> torch.Tensor:
        enc = self.encode(batch)
        logits = response_logits(self.model, enc, encoder_decoder=self.encoder_decoder)
        loss = masked_nll(logits, enc["labels"], shift=not self.encoder_decoder)
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=len(batch["response"]))
        if self.objective != "nll":
            self.log("val/objective", self.objective_loss(enc, logits), sync_dist=True,
                     batch_size=len(batch["response"]))
        if len(self._val_prompts) < self.num_val_samples:
            take = self.num_val_samples - len(self._val_prompts)
            self._val_prompts.extend(zip(batch["prompt"][:take], batch["response"][:take]))
        return loss

    def on_validation_epoch_end(self) -> None:
        if self._val_prompts and not self.trainer.sanity_checking:
            prompts = [p for p, _ in self._val_prompts]
            with gathered_params(self):
                outs = sample_with_model(self.model, self.tokenizer, prompts, max_new_tokens=self.val_max_new_tokens,
                                         apply_chat_template=self.apply_chat_template and not self.encoder_decoder)
            rows = [[str(p), ref, out] for (p, ref), out in zip(self._val_prompts, outs)]
            log_table(self.trainer, "val/samples", ["prompt", "reference", "generated"], rows)
        self._val_prompts = []

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> list[dict[str, str]]:
        with gathered_params(self):
            outs = sample_with_model(self.model, self.tokenizer, batch["prompt"],
                                     max_new_tokens=self.val_max_new_tokens,
                                     apply_chat_template=self.apply_chat_template and not self.encoder_decoder)
        return [{"prompt": str(p), "generated": o} for p, o in zip(batch["prompt"], outs)]
