"""TinyLLM: a small seq2seq student learns the answer and every teacher's rationale (dissertation ch. 3).

Each training example yields ``1 + M`` seq2seq tasks on the same student input ``(question, options)``:
the label task (prefix ``predict: ``, target = the answer text) and one rationale task per teacher (its own
prefix, target = that teacher's rationale). ``L = γ·L_label + Σ_m α_m·L_Tm`` (:func:`tinyllm_loss`), every term
logged. Examples without a usable rationale from teacher m are left out of ``L_Tm`` only.

Evaluation uses the label prefix alone (no teacher at test time): (1) greedy generation, exact match of the
normalised answer text (the released code's accuracy); (2) ranking the options by the student's likelihood of
each option text. Both are reported per dataset and overall.
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch
from lightning.pytorch.strategies import FSDPStrategy
from lightning.pytorch.utilities import rank_zero_info

from lit_agents.backbone import BackboneConfig, unwrap
from lit_agents.batching import length_groups, pad_rows
from lit_agents.losses.distillation import IGNORE, sequence_logprob, task_nll, tinyllm_loss
from lit_agents.metrics import MeanById, normalize_answer
from lit_agents.training.backbone_module import BackboneModule, Schedule


class DistillationModule(BackboneModule):
    """Multi-teacher rationale distillation into a seq2seq student (TinyLLM).

    Args:
        backbone: the student (paper: ``google/flan-t5-{small,base,large}``; tests: a tiny T5).
        label_prefix: prefix of the answer task, the only one used at test time.
        teacher_prefixes: one prefix per rationale teacher, in the data module's ``rationale_teachers`` order
            (released code: ``explain: `` / ``rationale: ``). ``[]`` = no rationale tasks (full fine-tuning,
            standard KD).
        teacher_names: names used in the logged keys (default: the data module's teacher names).
        label_weight: γ, the weight of ``L_label`` (paper: 1).
        teacher_weights: α_m per teacher (default 1 each; paper searches {0.01, 0.1, 0.5, 1, 2, 3}).
        max_input_length: student input tokens (paper: 1024).
        max_target_length: rationale target tokens (released code: 256).
        max_label_length: answer target tokens and generation length at evaluation.
        eval_generate: evaluate by generating and exact-matching the normalised answer text.
        eval_rank: evaluate by ranking the options by likelihood.
        option_score: ``sum`` (log-likelihood) or ``mean`` (per-token) for ranking.
        group_by_length: run each task's rows as forwards of similar length (:func:`length_groups`) instead of
            one forward padded to the longest row; the loss is the same token mean (only dropout's random masks
            fall differently). Off under FSDP, whose ranks must run the same number of forwards.
        learning_rate: AdamW learning rate (paper: 5e-5 with a constant schedule).
        weight_decay: AdamW weight decay.
        warmup_steps: steps of linear learning-rate warm-up.
        scheduler: learning-rate schedule after warm-up: ``constant``, ``linear`` or ``cosine`` decay to 0.
    """

    def __init__(self, backbone: BackboneConfig, label_prefix: str = "predict: ",
                 teacher_prefixes: list[str] | None = None, teacher_names: list[str] | None = None,
                 label_weight: float = 1.0, teacher_weights: list[float] | None = None,
                 max_input_length: int = 1024, max_target_length: int = 256, max_label_length: int = 128,
                 eval_generate: bool = True, eval_rank: bool = True, option_score: Literal["sum", "mean"] = "sum",
                 group_by_length: bool = True,
                 learning_rate: float = 5e-5, weight_decay: float = 0.0, warmup_steps: int = 0,
                 scheduler: Schedule = "constant"):
        super().__init__(backbone, task="seq2seq", learning_rate=learning_rate, weight_decay=weight_decay,
                         warmup_steps=warmup_steps, scheduler=scheduler)
        self.save_plain_hyperparameters()
        if not self.encoder_decoder:
            raise ValueError("DistillationModule needs an encoder-decoder student (T5, BART); got a causal model")
        prefixes = ["explain: ", "rationale: "] if teacher_prefixes is None else list(teacher_prefixes)
        if len(set([label_prefix, *prefixes])) != len(prefixes) + 1:
            raise ValueError(f"model: prefixes must be distinct, got label {label_prefix!r} and teachers {prefixes}")
        weights = [1.0] * len(prefixes) if teacher_weights is None else list(teacher_weights)
        if len(weights) != len(prefixes):
            raise ValueError(f"model.teacher_weights has {len(weights)} values for {len(prefixes)} teacher prefixes")
        if label_weight < 0 or any(w < 0 for w in weights):
            raise ValueError("model: loss weights must be >= 0")
        if teacher_names is not None and len(teacher_names) != len(prefixes):
            raise ValueError(f"model.teacher_names has {len(teacher_names)} names for {len(prefixes)} prefixes")
        # resolved at set-up (defaults filled in, names from the data, length grouping off under FSDP): runtime
        # state derived from the hyperparameters, which stay as given
        self.teacher_prefixes, self.teacher_names, self.group_by_length = prefixes, teacher_names, group_by_length
        self.label_weight, self.teacher_weights = float(label_weight), [float(w) for w in weights]
        self.metrics = torch.nn.ModuleDict()
        self._metric_ids: dict[tuple[str, str], str] = {}
        self._checked = False

    # ---- set-up --------------------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        names = list(getattr(dm, "teacher_names", []) or [])
        if self.teacher_names is not None and names and names != list(self.teacher_names):
            raise ValueError(f"model.teacher_names {self.teacher_names} do not match "
                             f"data.rationale_teachers {names} "
                             "(same teachers, same order: prefix m goes with rationale m)")
        if self.teacher_names is None:
            self.teacher_names = names if len(names) == len(self.teacher_prefixes) else \
                [f"teacher{m}" for m in range(len(self.teacher_prefixes))]
        if self.group_by_length and self._trainer is not None and isinstance(self.trainer.strategy,
                                                                                   FSDPStrategy):
            self.group_by_length = False
            rank_zero_info("[tinyllm] group_by_length is off under FSDP (every rank must run the same forwards)")
        datasets = ["all", *(getattr(dm, "dataset_names", []) or [])]
        modes = [m for m, on in (("gen", self.hparams.eval_generate), ("rank", self.hparams.eval_rank)) if on]
        for mode in modes:
            for i, ds in enumerate(datasets):
                key = f"{mode}_{i}"  # ModuleDict keys cannot hold every dataset name ('.' is refused)
                self._metric_ids[(mode, ds)] = key
                if key not in self.metrics:
                    self.metrics[key] = MeanById()  # DistributedSampler's padding repeats count once

    def task_weights(self) -> dict[str, float]:
        return {"label": self.label_weight, **dict(zip(self.teacher_names or [], self.teacher_weights))}

    # ---- tokenisation (the module owns the tokenizer) ------------------------------------------------------
    def encode(self, inputs: list[str], targets: list[str], max_target: int) -> dict[str, torch.Tensor]:
        """Encoder inputs, decoder inputs (shifted labels) and labels with ``-100`` on padding."""
        return self.encode_groups(inputs, targets, max_target, grouped=False)[0][1]

    def encode_groups(self, inputs: list[str], targets: list[str], max_target: int,
                      grouped: bool = True) -> list[tuple[list[int], dict[str, torch.Tensor]]]:
        """``(row indices, encode() of those rows)`` per forward: one group of every row unless ``grouped``
        (then :func:`length_groups` of the tokenised lengths)."""
        src = self.tokenizer(inputs, max_length=self.hparams.max_input_length, truncation=True)["input_ids"]
        tgt = self.tokenizer(text_target=targets, max_length=max_target, truncation=True)["input_ids"]
        groups = length_groups([len(x) for x in src], [len(y) for y in tgt]) if grouped else [list(range(len(src)))]
        pad, left = self.tokenizer.pad_token_id, self.tokenizer.padding_side == "left"
        base = unwrap(self.model)
        out = []
        for rows in groups:
            ids, mask = pad_rows([src[r] for r in rows], pad, left)
            tid, tmask = pad_rows([tgt[r] for r in rows], pad, left)
            labels = tid.masked_fill(tmask == 0, IGNORE)
            dec = base.prepare_decoder_input_ids_from_labels(labels=labels)
            out.append((rows, {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device),
                               "decoder_input_ids": dec.to(self.device), "labels": labels.to(self.device)}))
        return out

    def task_loss(self, task: str, inputs: list[str], targets: list[str], max_target: int) -> torch.Tensor:
        """Token-mean NLL of one task over all its rows, whether they run as one forward or several."""
        total, count = None, 0
        for rows, enc in self.encode_groups(inputs, targets, max_target, grouped=self.group_by_length):
            if not self._checked and rows[0] == 0:
                self._check_mask(task, inputs[0], enc["labels"][0])
            part = task_nll(self._forward_logits(enc), enc["labels"], reduction="sum")
            total = part if total is None else total + part
            count += int((enc["labels"] != IGNORE).sum())
        return total / count

    def tasks(self, batch: dict[str, list]) -> dict[str, tuple[list[str], list[str], int]]:
        """``task -> (prefixed inputs, targets, max target length)``; a teacher task keeps only the rows
        where that teacher has a rationale."""
        inputs = batch["input"]
        out = {"label": ([self.hparams.label_prefix + x for x in inputs], list(batch["target"]),
                         self.hparams.max_label_length)}
        rats = batch.get("rationales") or [[] for _ in inputs]
        n = {len(r) for r in rats}
        if self.teacher_prefixes and n != {len(self.teacher_prefixes)}:
            raise ValueError(f"the batch has {sorted(n)} rationales per example but model.teacher_prefixes has "
                             f"{len(self.teacher_prefixes)}: match data.rationale_teachers and model.teacher_prefixes")
        for m, (name, prefix) in enumerate(zip(self.teacher_names, self.teacher_prefixes)):
            rows = [i for i, r in enumerate(rats) if r[m]]
            if rows:
                out[name] = ([prefix + inputs[i] for i in rows], [rats[i][m] for i in rows],
                             self.hparams.max_target_length)
        return out

    def _forward_logits(self, enc: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                          decoder_input_ids=enc["decoder_input_ids"]).logits

    # ---- training ------------------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, list], batch_idx: int) -> torch.Tensor:
        losses: dict[str, torch.Tensor] = {}
        for task, (inputs, targets, max_t) in self.tasks(batch).items():
            losses[task] = self.task_loss(task, inputs, targets, max_t)
        self._checked = True
        loss = tinyllm_loss(losses, self.task_weights())
        bs = len(batch["input"])
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        for task, value in losses.items():
            self.log(f"train/loss_{task}", value, batch_size=bs)
        return loss

    def _check_mask(self, task: str, shown_input: str, labels: torch.Tensor) -> None:
        """Loud masks: the target must have tokens and end with EOS; show one rendered sample at step 0."""
        kept = labels[labels != IGNORE]
        if kept.numel() == 0:
            raise ValueError(f"task {task}: the first example has no target tokens")
        eos = self.tokenizer.eos_token_id
        if eos is not None and int(kept[-1]) != eos:
            raise ValueError(f"task {task}: target does not end with EOS; the student would never learn to stop")
        rank_zero_info(f"[tinyllm] task {task!r} sample\n  input : {shown_input[:300]!r}\n  target: "
                       f"{self.tokenizer.decode(kept, skip_special_tokens=False)[:300]!r} ({kept.numel()} tokens)")

    # ---- evaluation ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_answers(self, inputs: list[str]) -> list[str]:
        """Greedy answers generated with the label prefix."""
        from lit_agents.sampling.policy import gathered_params, sample_with_model

        with gathered_params(self):
            return sample_with_model(self.model, self.tokenizer, [self.hparams.label_prefix + x for x in inputs],
                                     max_new_tokens=self.hparams.max_label_length, temperature=0.0,
                                     max_prompt_length=self.hparams.max_input_length)

    @torch.no_grad()
    def rank_options(self, inputs: list[str], choices: list[list[str]]) -> list[int]:
        """Index of the option the student finds likeliest as the answer to each question.

        Each question is encoded once; its encoder states are repeated for its options."""
        from lit_agents.sampling.policy import through_unit

        enc = self.tokenizer([self.hparams.label_prefix + x for x in inputs], max_length=self.hparams.max_input_length,
                             truncation=True, padding=True, return_tensors="pt").to(self.device)
        counts = torch.tensor([len(cs) for cs in choices], device=self.device)
        tgt = self.tokenizer(text_target=[c for cs in choices for c in cs], max_length=self.hparams.max_label_length,
                             truncation=True, padding=True, return_tensors="pt")
        labels = tgt["input_ids"].masked_fill(tgt["attention_mask"] == 0, IGNORE).to(self.device)

        def option_logits(model):  # under FSDP inside the backbone unit's forward (get_encoder bypasses it)
            base = unwrap(model)
            hidden = base.get_encoder()(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])[0]
            return base(encoder_outputs=(hidden.repeat_interleave(counts, dim=0),),
                        attention_mask=enc["attention_mask"].repeat_interleave(counts, dim=0),
                        decoder_input_ids=base.prepare_decoder_input_ids_from_labels(labels=labels)).logits

        logits = through_unit(self.model, option_logits)
        scores = sequence_logprob(logits, labels, self.hparams.option_score)
        out, start = [], 0
        for cs in choices:
            out.append(int(scores[start:start + len(cs)].argmax()))
            start += len(cs)
        return out

    def _eval_step(self, batch: dict[str, list], stage: str) -> None:
        bs = len(batch["input"])
        enc = self.encode([self.hparams.label_prefix + x for x in batch["input"]], batch["answer_text"],
                          self.hparams.max_label_length)
        self.log(f"{stage}/loss_label", task_nll(self._forward_logits(enc), enc["labels"]), batch_size=bs,
                 sync_dist=True)
        results = {}
        if self.hparams.eval_generate:
            preds = self.predict_answers(batch["input"])
            results["gen"] = [float(normalize_answer(p) == normalize_answer(g))
                              for p, g in zip(preds, batch["answer_text"])]
            if stage == "val" and self._is_first_eval_batch():
                from lit_agents.logging_utils import log_table

                log_table(self.trainer, "val/predictions", ["dataset", "input", "prediction", "gold"],
                          [[d, x, p, g] for d, x, p, g in zip(batch["dataset"], batch["input"], preds,
                                                              batch["answer_text"])][:4])
        if self.hparams.eval_rank:
            picked = self.rank_options(batch["input"], batch["choices"])
            results["rank"] = [float(p == g) for p, g in zip(picked, batch["answer_index"])]
        for mode, correct in results.items():
            for rid, ds, c in zip(batch["id"], batch["dataset"], correct):
                for name in ("all", ds):
                    key = self._metric_ids.get((mode, name))
                    if key is not None:
                        self.metrics[key].update(c, f"{ds}/{rid}")

    def _is_first_eval_batch(self) -> bool:
        return getattr(self, "_eval_batches", 0) == 0

    def _eval_epoch_end(self, stage: str) -> None:
        # Every rank computes every metric in the same order (each compute() syncs across ranks).
        for (mode, ds), key in sorted(self._metric_ids.items(), key=lambda kv: kv[1]):
            metric = self.metrics[key]
            with warnings.catch_warnings():  # a dataset may have no example on this rank: compute still syncs
                warnings.simplefilter("ignore", UserWarning)
                value = metric.compute()
            metric.reset()
            if torch.isfinite(value):
                name = f"{stage}/acc_{mode}" if ds == "all" else f"{stage}/acc_{mode}/{ds}"
                # already synced by compute(); sync_dist averages identical values (and keeps Lightning quiet)
                self.log(name, value, prog_bar=ds == "all", sync_dist=True)

    def validation_step(self, batch: dict[str, list], batch_idx: int) -> None:
        self._eval_batches = batch_idx
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def test_step(self, batch: dict[str, list], batch_idx: int) -> None:
        self._eval_batches = batch_idx
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def on_fit_start(self) -> None:
        stats = getattr(getattr(self.trainer, "datamodule", None), "stats", None) or {}
        numeric = {}
        for teacher, s in (stats.get("teachers") or {}).items():
            rank_zero_info(f"[tinyllm] teacher {teacher}: " + ", ".join(f"{k}={v}" for k, v in s.items()))
            numeric.update({f"data/{teacher}/{k}": float(v) for k, v in s.items() if isinstance(v, (int, float))})
        for logger in self.loggers:  # rationale counts next to the curves (rank zero only inside the loggers)
            logger.log_metrics(numeric, step=0)
