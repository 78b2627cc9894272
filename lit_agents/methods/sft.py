"""Supervised fine-tuning with the loss on response tokens only (IterAlign's SFT step, RM-R1 stage 1).

Works for decoder-only models (prompt and response in one sequence, prompt tokens masked with -100) and for
encoder-decoder models (prompt to the encoder, response as labels). Records are ``{prompt, response}`` where
``prompt`` is a string or a list of chat messages; the chat template is applied when the tokenizer has one.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from lit_agents.backbone import BackboneConfig
from lit_agents.export import full_state_dict, save_hf, strip_prefix
from lit_agents.logging_utils import log_table
from lit_agents.losses.sft import masked_nll, response_logits
from lit_agents.losses.sft_objectives import Objective, check_objective, masked_objective
from lit_agents.prompts import Prompt
from lit_agents.sampling.policy import gathered_params, sample_with_model
from lit_agents.training.backbone_module import BackboneModule, Schedule
from lit_agents.training.prompt_response import check_loss_mask, pack_batch, tokenize_prompt_response

log = logging.getLogger(__name__)


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
        export_dir: write the trained model and tokenizer here at the end of fit (``save_pretrained``), for a
            later stage to load with ``backbone.name_or_path`` (RM-R1 stage 2, the IterAlign showcase's loop).
    """

    def __init__(self, backbone: BackboneConfig, learning_rate: float = 2e-5, weight_decay: float = 0.0,
                 warmup_steps: int = 0, scheduler: Schedule = "cosine", max_length: int = 512, packing: bool = False,
                 apply_chat_template: bool = True, num_val_samples: int = 4, val_max_new_tokens: int = 64,
                 objective: Objective = "nll", objective_alpha: float = 1.0, objective_threshold: float = 0.5,
                 export_dir: str | None = None):
        super().__init__(backbone, learning_rate=learning_rate, weight_decay=weight_decay,
                         warmup_steps=warmup_steps, scheduler=scheduler)
        self.save_plain_hyperparameters()
        if max_length < 2:
            raise ValueError(f"model.max_length must be >= 2, got {max_length}")
        if packing and self.encoder_decoder:
            raise ValueError("model.packing: packing applies to decoder-only models only")
        check_objective(objective, objective_alpha, objective_threshold)
        self._val_prompts: list[tuple[Prompt, str]] = []

    def encode(self, batch: dict[str, list]) -> dict[str, torch.Tensor]:
        enc = tokenize_prompt_response(self.tokenizer, batch["prompt"], batch["response"],
                                       max_length=self.hparams.max_length, encoder_decoder=self.encoder_decoder,
                                       apply_chat_template=self.hparams.apply_chat_template)
        if self.hparams.packing:
            enc = pack_batch(enc, self.hparams.max_length, self.tokenizer.pad_token_id)
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
        return masked_objective(logits, enc["labels"], self.hparams.objective, alpha=self.hparams.objective_alpha,
                                threshold=self.hparams.objective_threshold, shift=not self.encoder_decoder)

    def response_nll(self, enc: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The response-token NLL of an encoded batch, and the logits it came from (the evaluation loss,
        whatever the training objective)."""
        logits = response_logits(self.model, enc, encoder_decoder=self.encoder_decoder)
        return masked_nll(logits, enc["labels"], shift=not self.encoder_decoder), logits

    def validation_step(self, batch: dict[str, list], batch_idx: int) -> torch.Tensor:
        enc = self.encode(batch)
        loss, logits = self.response_nll(enc)
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=len(batch["response"]))
        if self.hparams.objective != "nll":
            self.log("val/objective", self.objective_loss(enc, logits), sync_dist=True,
                     batch_size=len(batch["response"]))
        if len(self._val_prompts) < self.hparams.num_val_samples:
            take = self.hparams.num_val_samples - len(self._val_prompts)
            self._val_prompts.extend(zip(batch["prompt"][:take], batch["response"][:take]))
        return loss

    def test_step(self, batch: dict[str, list], batch_idx: int) -> torch.Tensor:
        """``test/loss``: the response-token NLL on the test records (``data.test_file``)."""
        loss, _ = self.response_nll(self.encode(batch))
        self.log("test/loss", loss, sync_dist=True, batch_size=len(batch["response"]))
        return loss

    def on_validation_epoch_end(self) -> None:
        if self._val_prompts and not self.trainer.sanity_checking:
            prompts = [p for p, _ in self._val_prompts]
            with gathered_params(self):
                outs = sample_with_model(self.model, self.tokenizer, prompts,
                                         max_new_tokens=self.hparams.val_max_new_tokens,
                                         apply_chat_template=self.hparams.apply_chat_template
                                         and not self.encoder_decoder)
            rows = [[str(p), ref, out] for (p, ref), out in zip(self._val_prompts, outs)]
            log_table(self.trainer, "val/samples", ["prompt", "reference", "generated"], rows)
        self._val_prompts = []

    def on_train_end(self) -> None:
        """Export the trained policy; under FSDP the full weights are gathered first (on every rank, kept on
        rank 0) and loaded into a fresh copy of the backbone, since the wrapped model holds only shards."""
        if self.hparams.export_dir is None:
            return
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        model = self.model
        if isinstance(getattr(self.trainer.strategy, "model", None), FSDP):
            state = full_state_dict(self)  # a collective: every rank takes part
            if not self.trainer.is_global_zero:
                return
            model, _ = self.backbone_config.build()  # the same task inference as the module's own build
            model.load_state_dict(strip_prefix(state, "model."))
        elif not self.trainer.is_global_zero:
            return
        out = save_hf(model, self.tokenizer, self.hparams.export_dir)
        log.info("SFT: policy exported to %s (a later stage loads it with backbone.name_or_path=%s)", out, out)

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> list[dict[str, str]]:
        with gathered_params(self):
            outs = sample_with_model(self.model, self.tokenizer, batch["prompt"],
                                     max_new_tokens=self.hparams.val_max_new_tokens,
                                     apply_chat_template=self.hparams.apply_chat_template and not self.encoder_decoder)
        return [{"prompt": str(p), "generated": o} for p, o in zip(batch["prompt"], outs)]
