"""ToolRL (Qian et al. 2025): GRPO from a cold start with ``R = R_format + R_correct`` (separately weighted
reward functions, :mod:`lit_agents.tools.rewards`), optionally multi-turn with a tool environment; evaluated
greedily on tool-use records (:mod:`lit_agents.tools.metrics`) with per-record predictions written out.
"""
from __future__ import annotations

import json
import logging
import random
from typing import Any, Literal

import torch
import torch.distributed as dist

from lit_agents.fileio import atomic_write_text
from lit_agents.logging_utils import log_table, run_dir
from lit_agents.methods.grpo import GRPOModule
from lit_agents.sampling.group_rollout import Rollout, per_token_logps
from lit_agents.sampling.group_rollout import _pad as pad_rows
from lit_agents.sampling.policy import gathered_params
from lit_agents.tools.metrics import score_prediction, tool_use_metrics

log = logging.getLogger(__name__)


def flatten_messages(prompt: Any) -> Any:
    """Chat messages as one text (contents joined by blank lines) for tokenizers without a chat template."""
    if isinstance(prompt, list):
        return "\n\n".join(str(m.get("content", "")) for m in prompt)
    return prompt


class ToolRLModule(GRPOModule):
    """:class:`GRPOModule` whose validation/test is tool-use evaluation instead of pairwise judging.

    Every other argument is GRPOModule's (see there: ``reward_funcs``/``reward_weights``/``reward_kwargs``/
    ``reward_weight_schedules`` for the reward design, ``tool_env`` for multi-turn episodes). Evaluation
    decodes greedily (``eval_max_new_tokens`` per turn) and logs ``{val,test}/toolrl/<metric>``; the test
    writes ``test_predictions.jsonl`` and ``test_toolrl_report.json`` into the run directory.

    The optional *format warm-up* stands in for the paper's starting point, an instruct model that already
    writes the output syntax but does not know the task's tools: the first ``format_warmup_steps`` optimiser
    steps are supervised steps (token-mean NLL) on each training prompt followed by its ``format_target``, a
    well-formed answer unrelated to the prompt (``data.format_targets``: another record's gold output), so
    the policy learns the tags and the JSON layout, but which call a prompt needs only from the GRPO rewards
    afterwards. With ``format_target_choices`` in the batch (``data.format_target_arguments: own`` or
    ``own_unordered``) each row's target is drawn from its choices afresh at every step (seeded by the step, so a
    resume draws the same): the record's own values under a random task tool (and binding), which a model cannot
    memorise per prompt, so the tool choice (and binding) stays at chance and open to the rewards. Or
    (``data.warmup_task``, an instruct stage) on the prompts of a *disjoint tool world* (other tools and parameter
    names) followed by their TRUE calls (``warmup_prompt``/``warmup_target``): syntax and copying arguments,
    nothing about the task's tools; both when both are set. No rollout is sampled during the warm-up; the GRPO
    step counter (reward schedules, logs)
    starts after it. Logged as ``train/format_warmup/loss``.

    Args:
        format_warmup_steps: optimiser steps of the format warm-up before GRPO (0 = none, the paper's setting).
        format_warmup_lr: learning rate of the warm-up steps (default: ``learning_rate``).
        eval_first_turn: a scripted first turn for evaluation episodes (needs ``tool_env``), its
            ``{question}`` replaced by the record's ``question`` as a JSON string, e.g. a search for the
            question itself (``configs/toolrl_bamboogle.yaml``): the policy continues after the tool's
            observation. None: the policy writes every turn.
        kl_reference: the policy the KL term (``beta > 0``) is measured against: ``initial`` (GRPOModule's, the
            weights before any step) or ``warmed_up`` (the policy as the format warm-up leaves it, snapshotted at
            the first GRPO step and checkpointed): the stand-in for the paper's instruct model, which a KL term
            would anchor to, instead of random weights. Full-parameter training only (with LoRA the reference is
            the adapter-free base model).
    """

    def __init__(self, *args: Any, format_warmup_steps: int = 0, format_warmup_lr: float | None = None,
                 eval_first_turn: str | None = None, kl_reference: Literal["initial", "warmed_up"] = "initial",
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        if kl_reference not in ("initial", "warmed_up"):
            raise ValueError(f"model.kl_reference must be 'initial' or 'warmed_up', got {kl_reference!r}")
        if kl_reference == "warmed_up" and self.uses_lora:
            raise ValueError("model.kl_reference: warmed_up needs full-parameter training: with backbone.lora the KL "
                             "reference is the base model with the adapters disabled")
        if eval_first_turn is not None and self.tool_env is None:
            raise ValueError("model.eval_first_turn scripts a tool-episode turn: set model.tool_env too")
        if format_warmup_steps < 0:
            raise ValueError(f"model.format_warmup_steps must be >= 0, got {format_warmup_steps}")
        if format_warmup_lr is not None and not format_warmup_lr > 0:
            raise ValueError(f"model.format_warmup_lr must be > 0, got {format_warmup_lr}")
        self.format_warmup_done = 0  # checkpointed
        self.reference_warmed_up = False  # checkpointed, with the reference weights once snapshotted

    # ------------------------------------------------------------------ format warm-up
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["toolrl_state"] = {"format_warmup_done": self.format_warmup_done,
                                      "reference_warmed_up": self.reference_warmed_up}
        if self.reference_warmed_up:  # not rebuilt from the backbone config on resume: it is the warmed-up policy
            checkpoint["toolrl_state"]["reference"] = {k: v.detach().cpu()
                                                       for k, v in self.ref_model.state_dict().items()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        state = checkpoint.get("toolrl_state", {})
        self.format_warmup_done = int(state.get("format_warmup_done", 0))
        self.reference_warmed_up = bool(state.get("reference_warmed_up", False))
        if self.reference_warmed_up:
            self.ref_model.load_state_dict(state["reference"])

    def _warming_up(self) -> bool:
        return self.format_warmup_done < self.hparams.format_warmup_steps

    def on_train_batch_start(self, batch: dict[str, list], batch_idx: int) -> None:
        if self._warming_up():
            self._pending = None
            return
        if self.hparams.kl_reference == "warmed_up" and self.ref_model is not None and not self.reference_warmed_up:
            self._snapshot_reference()  # at the first GRPO step
        super().on_train_batch_start(batch, batch_idx)

    @torch.no_grad()
    def _snapshot_reference(self) -> None:
        """The KL reference becomes the policy as the warm-up left it (``kl_reference: warmed_up``): the stand-in
        for the paper's instruct starting point, instead of the random initial weights."""
        with gathered_params(self):
            full = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.ref_model.load_state_dict(full)
        self.reference_warmed_up = True

    def training_step(self, batch: dict[str, list], batch_idx: int) -> None:
        if not self._warming_up():
            return super().training_step(batch, batch_idx)
        if not {"format_target", "format_target_choices", "warmup_target"} & set(batch):
            raise ValueError("model.format_warmup_steps > 0 needs a 'format_target' or 'warmup_target' column in the "
                             "training batches: set data.format_targets: true or data.warmup_task "
                             "(data_modules.tool_use.ToolUseDataModule)")
        opt = self.optimizers()
        rows, targets = self._warmup_rows(batch)
        # every prompt too long: a zero loss keeps the ranks' gradient collectives in step
        loss = self._warmup_loss(rows, targets) if rows else self._zero_loss()
        self.manual_backward(loss)
        if self.hparams.max_grad_norm is not None:  # the shared way (under FSDP: the root's norm over all shards)
            self.configure_gradient_clipping(opt, self.hparams.max_grad_norm, "norm")
        lrs = [g["lr"] for g in opt.param_groups]
        if self.hparams.format_warmup_lr is not None:
            for g in opt.param_groups:
                g["lr"] = self.hparams.format_warmup_lr
        opt.step()
        opt.zero_grad(set_to_none=True)
        for g, lr in zip(opt.param_groups, lrs):  # the GRPO schedule starts after the warm-up, unstepped
            g["lr"] = lr
        self.format_warmup_done += 1
        self.log("train/format_warmup/loss", loss.detach(), on_step=True, on_epoch=False, sync_dist=True,
                 batch_size=max(1, len(rows)), prog_bar=True)

    def _warmup_rows(self, batch: dict[str, list]) -> tuple[list[list[int]], list[str]]:
        """The warm-up's prompt token rows and targets: the batch's prompts with their ``format_target``, then
        the disjoint tool world's prompts with their true calls (``warmup_prompt``/``warmup_target``,
        ``data.warmup_task``) when the batch has them; prompts too long are dropped."""
        rows: list[list[int]] = []
        targets: list[str] = []
        if "format_target_choices" in batch:  # one drawn per row and step, reproducibly (resumes exactly)
            batch = {**batch, "format_target": [
                random.Random(self.format_warmup_done * 1_000_003 + i).choice(choices)
                for i, choices in enumerate(batch["format_target_choices"])]}
        world = {**batch, self.hparams.prompt_field: batch.get("warmup_prompt")}
        for part, target_col in ((batch, "format_target"), (world, "warmup_target")):
            if target_col in batch:
                keep, r = self._filter_prompts(part)
                rows += r
                targets += [batch[target_col][i] for i in keep]
        return rows, targets

    def _warmup_loss(self, rows: list[list[int]], targets: list[str]) -> torch.Tensor:
        """Token-mean NLL of each target after its prompt (+ prefill), EOS included."""
        tok, eos = self.tokenizer, self.tokenizer.eos_token_id
        pad = tok.pad_token_id if tok.pad_token_id is not None else eos
        tgt = [tok(t, add_special_tokens=False)["input_ids"] + [eos] for t in targets]
        p_ids, p_mask = pad_rows(rows, pad, left=not self.encoder_decoder)
        c_ids, c_mask = pad_rows(tgt, pad, left=False)
        ro = Rollout(p_ids.to(self.device), p_mask.to(self.device), c_ids.to(self.device), c_mask.to(self.device),
                     list(targets), torch.ones(len(rows), dtype=torch.bool))
        logps = per_token_logps(self.model, ro, encoder_decoder=self.encoder_decoder, temperature=1.0)
        return -(logps * ro.completion_mask).sum() / ro.completion_mask.sum().clamp(min=1)

    def _filter_prompts(self, batch: dict[str, list]) -> tuple[list[int], list[list[int]]]:
        # an encoder-decoder tokenizer without a chat template reads the messages as plain text
        if getattr(self.tokenizer, "chat_template", None) is None:
            field = self.hparams.prompt_field
            batch = {**batch, field: [flatten_messages(p) for p in batch[field]]}
        return super()._filter_prompts(batch)

    def validation_step(self, batch: dict[str, list], batch_idx: int) -> None:
        self._queue(batch)

    def test_step(self, batch: dict[str, list], batch_idx: int) -> None:
        self._queue(batch)

    @torch.no_grad()
    def evaluate_batch(self, batch: dict[str, list]) -> list[dict[str, Any]]:
        """Greedy outputs (tool episodes when ``tool_env`` is set) scored against each record."""
        for f in ("prompt", "answer", "kind"):
            if f not in batch:
                raise ValueError(f"tool-use evaluation needs a {f!r} column "
                                 "(use data_modules.tool_use.ToolUseDataModule)")
        keep, rows = self._filter_prompts(batch)
        records = [{k: v[i] for k, v in batch.items()} for i in range(len(batch["prompt"]))]
        results = []
        for i in set(range(len(records))) - set(keep):  # too long for max_prompt_length: counted wrong
            results.append(score_prediction("", records[i]))
        for s in range(0, len(keep), self.hparams.eval_batch_size):
            idx = keep[s:s + self.hparams.eval_batch_size]
            extra = {}
            if self.hparams.eval_first_turn is not None:
                extra["first_turns"] = [self._first_turn(records[i]) for i in idx]
            with gathered_params(self):
                ro = self.generate_group(rows[s:s + self.hparams.eval_batch_size], [records[i] for i in idx],
                                         num_generations=1, do_sample=False,
                                         max_completion_length=self.hparams.eval_max_new_tokens, **extra)
            made = getattr(ro, "num_tool_calls", None)
            for j, i in enumerate(idx):
                text = (records[i].get("assistant_prefix") or "") + ro.texts[j]
                results.append(score_prediction(text, records[i], None if made is None else int(made[j])))
        return results

    def _first_turn(self, record: dict[str, Any]) -> str:
        question = record.get("question")
        if not isinstance(question, str):
            raise ValueError(f"model.eval_first_turn uses {{question}}: record {record.get('id')!r} has no "
                             "'question' (qa records of data_modules.tool_use.ToolUseDataModule have one)")
        return self.hparams.eval_first_turn.replace("{question}", json.dumps(question, ensure_ascii=False))

    def _finish(self, stage: str) -> dict[str, float]:
        batches, self._pairwise_batches = getattr(self, "_pairwise_batches", []), []
        local = [r for b in batches for r in self.evaluate_batch(b)]
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            gathered: list[list[dict]] = [None] * dist.get_world_size()  # type: ignore[list-item]
            dist.all_gather_object(gathered, local)
            local = [r for part in gathered for r in part]
        results = list({r["id"]: r for r in local}.values())  # DistributedSampler pads by repeating records
        metrics = tool_use_metrics(results)
        if self.trainer.sanity_checking:
            return metrics
        for k, v in metrics.items():
            self.log(f"{stage}/toolrl/{k}", float(v), rank_zero_only=True, batch_size=1)
        if self.trainer.is_global_zero and metrics:
            out = run_dir(self.trainer)
            atomic_write_text(out / f"{stage}_toolrl_report.json", json.dumps({"step": self.global_step, **metrics},
                                                                               indent=2))
            if stage == "test":
                atomic_write_text(out / "test_predictions.jsonl", "".join(
                    json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in results))
            log.info("%s toolrl: %s", stage, json.dumps({k: round(v, 4) for k, v in metrics.items()}))
            log_table(self.trainer, f"{stage}/tool_predictions", ["id", "kind", "correct", "output"],
                      [[r["id"], r["kind"], bool(r["correct"]), str(r["output"])[:500]] for r in results[:8]])
        return metrics
