"""Generative few-shot QA with prompt-style augmentation: Gotta (ch. 2) and MinPrompt (ch. 4).

One encoder-decoder reads ``x = "Question: {q} Answer: <mask>. Context: {c}"`` and is trained to write
``y = "Question: {q} Answer: {a}"`` (the released code's target; the papers' y also repeats
``" Context: {c}"`` -- set ``target_template`` to get it). Augmented examples (cloze / MinPrompt questions)
use the very same format, so one token-NLL serves both:

    L = L_ori + λ · L_aug          (dissertation eq. 2.4 / 4.2; each part is the mean token NLL of its batch)

Each QA batch is paired with one augmented batch (the DataModule cycles the augmented loader). Validation and
test generate greedily, take the text after ``"Answer:"`` up to ``"Context"`` (empty when ``"Answer:"`` is
missing, as released) and score SQuAD v1.1 F1/EM (max over gold answers). Metrics are computed over the
predictions gathered from all ranks (de-duplicated by id), logged as ``val/f1``, ``val/em`` (monitor
``val/f1`` for checkpoint selection) and ``test/f1``, ``test/em``; predictions are written to
``<run dir>/predictions/``.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

import torch
import torch.distributed as dist

from lit_agents.backbone import BackboneConfig
from lit_agents.logging_utils import run_dir
from lit_agents.losses.qa import augmented_loss
from lit_agents.losses.sft import IGNORE_INDEX, masked_nll
from lit_agents.metrics import qa_scores, unique_by_id
from lit_agents.sampling.policy import gathered_params, sample_with_model
from lit_agents.training.backbone_module import BackboneModule, Schedule
from lit_agents.training.prompt_response import check_loss_mask

log = logging.getLogger(__name__)

SOURCE_TEMPLATE = "Question: {question} Answer: {mask}. Context: {context}"
TARGET_TEMPLATE = "Question: {question} Answer: {answer}"
PAPER_TARGET_TEMPLATE = "Question: {question} Answer: {answer} Context: {context}"


def parse_answer(generated: str) -> str:
    """The text after the first ``"Answer:"`` up to ``"Context"`` (released Gotta), stripped; ``""`` if absent."""
    idx = generated.find("Answer:")
    if idx < 0:
        return ""
    return generated[idx + len("Answer:"):].split("Context")[0].strip()


class Seq2SeqQAModule(BackboneModule):
    """Encoder-decoder few-shot QA trained on ``L_ori + λ·L_aug``.

    Args:
        backbone: the encoder-decoder (``facebook/bart-large`` in the papers; a tiny T5/BART in tests).
        lambda_aug: λ, searched in {0.01, 0.05, 0.1, 0.5, 1, 10} in the papers (released default 1.0).
        learning_rate: 2e-5 in the papers (Adam with bias correction, no schedule; AdamW with
            ``weight_decay=0`` is Adam).
        max_source_length: source tokens kept (800 released).
        max_target_length: target tokens kept.
        max_new_tokens: generation length (100 in the papers, 35-50 released).
        source_template / target_template: format strings over ``{question} {context} {answer} {mask}``.
        mask_token: the ``<mask>`` in the source's answer slot.
        aug_format: ``prompt`` (Gotta/MinPrompt: augmented examples in the QA prompt) or ``mtl`` (the
            Gotta-MTL ablation: cloze as a plain denoising task -- masked context in, entity out -- with its own
            loss term instead of the shared prompt).
        weight_decay: AdamW weight decay.
        warmup_steps: steps of linear learning-rate warm-up.
        scheduler: learning-rate schedule after warm-up: ``constant``, ``linear`` or ``cosine`` decay to 0.
        source_template: encoder input built from ``{question}``, ``{mask}`` and ``{context}``.
        target_template: decoder target built from ``{question}`` and ``{answer}``.
    """

    def __init__(
        self,
        backbone: BackboneConfig,
        lambda_aug: float = 1.0,
        learning_rate: float = 2e-5,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        scheduler: Schedule = "constant",
        max_source_length: int = 800,
        max_target_length: int = 128,
        max_new_tokens: int = 50,
        source_template: str = SOURCE_TEMPLATE,
        target_template: str = TARGET_TEMPLATE,
        mask_token: str = "<mask>",
        aug_format: Literal["prompt", "mtl"] = "prompt",
    ):
        super().__init__(backbone, task="seq2seq", learning_rate=learning_rate, weight_decay=weight_decay,
                         warmup_steps=warmup_steps, scheduler=scheduler)
        self.save_plain_hyperparameters()
        if lambda_aug < 0:
            raise ValueError(f"model.lambda_aug must be >= 0, got {lambda_aug}")
        if not self.encoder_decoder:
            raise ValueError("Seq2SeqQAModule needs an encoder-decoder backbone (BART, T5)")
        for name, tpl in (("source_template", source_template), ("target_template", target_template)):
            try:
                tpl.format(question="q", context="c", answer="a", mask="m")
            except (KeyError, IndexError) as err:
                raise ValueError(
                    f"model.{name}: unknown placeholder {err} (use question, context, answer, mask)") from None
        self._eval_rows: list[dict] = []
        self._truncated_targets, self._warned_truncation = 0, False

    # ----------------------------------------------------------------- format
    def sources(self, batch: dict[str, list]) -> list[str]:
        return [self.hparams.source_template.format(question=q, context=c, mask=self.hparams.mask_token, answer="")
                for q, c in zip(batch["question"], batch["context"])]

    def targets(self, batch: dict[str, list]) -> list[str]:
        return [self.hparams.target_template.format(question=q, context=c, answer=a[0], mask=self.hparams.mask_token)
                for q, c, a in zip(batch["question"], batch["context"], batch["answers"])]

    def encode(self, sources: list[str], targets: list[str]) -> dict[str, torch.Tensor]:
        tok = self.tokenizer
        enc = tok(sources, max_length=self.hparams.max_source_length, truncation=True, padding=True,
                  return_tensors="pt")
        lab = tok(text_target=targets, max_length=self.hparams.max_target_length, truncation=True, padding=True,
                  return_tensors="pt")
        labels = lab["input_ids"].masked_fill(lab["attention_mask"] == 0, IGNORE_INDEX)
        n_cut = int((lab["attention_mask"].sum(1) >= self.hparams.max_target_length).sum())
        if n_cut:  # the answer sits at the end of the target, so a cut target may train without it
            self._truncated_targets += n_cut
            if not self._warned_truncation:
                self._warned_truncation = True
                log.warning("%d target(s) reached max_target_length=%d and were cut (the answer may be lost); "
                            "raise model.max_target_length", n_cut, self.hparams.max_target_length)
        out = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}
        return {k: v.to(self.device) for k, v in out.items()}

    def encode_batch(self, batch: dict[str, list], *, augmented: bool = False) -> dict[str, torch.Tensor]:
        if augmented and self.hparams.aug_format == "mtl":
            return self.encode(list(batch["context"]), [a[0] for a in batch["answers"]])
        return self.encode(self.sources(batch), self.targets(batch))

    def nll(self, enc: dict[str, torch.Tensor]) -> torch.Tensor:
        out = self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=enc["labels"])
        return masked_nll(out.logits, enc["labels"])

    # --------------------------------------------------------------- training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        qa, aug = batch["qa"], batch.get("aug")
        enc = self.encode_batch(qa)
        if self.global_step == 0 and batch_idx == 0:
            log.info("step-0 QA sample (target in ⟦…⟧):\n%s",
                     check_loss_mask(self.tokenizer, enc, encoder_decoder=True))
        loss_ori = self.nll(enc)
        loss_aug = None
        if aug is not None and self.hparams.lambda_aug > 0:
            aug_enc = self.encode_batch(aug, augmented=True)
            if self.global_step == 0 and batch_idx == 0:
                log.info("step-0 augmented sample:\n%s", check_loss_mask(self.tokenizer, aug_enc,
                                                                         encoder_decoder=True))
            loss_aug = self.nll(aug_enc)
            self.log("train/loss_aug", loss_aug, batch_size=len(aug["question"]))
        loss = augmented_loss(loss_ori, loss_aug, self.hparams.lambda_aug)
        bs = len(qa["question"])
        self.log("train/loss_ori", loss_ori, batch_size=bs)
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        return loss

    # ------------------------------------------------------------- evaluation
    def generate_answers(self, batch: dict[str, list]) -> list[str]:
        """Greedy-generate y for each example and parse the answer span out of it."""
        with gathered_params(self):
            outs = sample_with_model(self.model, self.tokenizer, self.sources(batch),
                                     max_new_tokens=self.hparams.max_new_tokens, apply_chat_template=False,
                                     max_prompt_length=self.hparams.max_source_length)
        return outs

    def _eval_step(self, batch: dict[str, list], stage: str) -> None:
        enc = self.encode_batch(batch)
        self.log(f"{stage}/loss", self.nll(enc), sync_dist=True, batch_size=len(batch["question"]))
        for rid, gen, golds in zip(batch["id"], self.generate_answers(batch), batch["answers"]):
            pred = parse_answer(gen)
            f1, em = qa_scores(pred, golds)
            self._eval_rows.append({"id": rid, "prediction": pred, "generated": gen, "answers": list(golds),
                                    "f1": f1, "em": em})

    def validation_step(self, batch: dict[str, list], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, list], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def _gather_rows(self) -> list[dict]:
        rows = self._eval_rows
        self._eval_rows = []
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            parts: list[list[dict]] = [None] * dist.get_world_size()  # type: ignore[list-item]
            dist.all_gather_object(parts, rows)
            rows = [r for part in parts for r in part]
        return unique_by_id(rows)  # DistributedSampler pads with repeats: keep one row per id

    def _eval_epoch_end(self, stage: str) -> None:
        rows = self._gather_rows()
        if not rows:
            return
        f1 = 100.0 * sum(r["f1"] for r in rows) / len(rows)
        em = 100.0 * sum(r["em"] for r in rows) / len(rows)
        # identical on every rank (computed from the gathered rows): the mean over ranks is the same value
        self.log(f"{stage}/f1", f1, prog_bar=True, sync_dist=True)
        self.log(f"{stage}/em", em, sync_dist=True)
        if self.trainer.sanity_checking or not self.trainer.is_global_zero:
            return
        out = run_dir(self.trainer) / "predictions"
        out.mkdir(parents=True, exist_ok=True)
        tag = f"{stage}_epoch{self.current_epoch}" if stage == "val" else stage
        with open(out / f"{tag}.jsonl", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        with open(out / f"{tag}_predictions.json", "w", encoding="utf-8") as f:  # official-script format
            json.dump({r["id"]: r["prediction"] for r in rows}, f, ensure_ascii=False)
        with open(out / "summary.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps({"stage": stage, "epoch": self.current_epoch, "step": self.global_step,
                                "n": len(rows), "f1": f1, "em": em}) + "\n")
        log.info("%s: F1 %.2f EM %.2f on %d questions -> %s", stage, f1, em, len(rows), out / f"{tag}.jsonl")

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def predict_step(self, batch: dict[str, list], batch_idx: int) -> list[dict[str, str]]:
        return [{"id": rid, "prediction": parse_answer(g), "generated": g}
                for rid, g in zip(batch["id"], self.generate_answers(batch))]
