"""IterAlign's evaluation: rank the options of TruthfulQA MC1 and BIG-bench HHH items by the policy's
likelihood (:mod:`lit_agents.scoring`), and answer held-out red-team prompts and let the loop's judge score
them (the pass rate, task ``redteam_heldout``), per task and per category, once before the first iteration (the
base model, iteration 0) and at every validation/test; each result is appended to the loop's ``eval_history``
and written to the run directory.
"""
from __future__ import annotations

import warnings

import torch

from lit_agents.alignment.report import write_outputs
from lit_agents.metrics import MeanById
from lit_agents.sampling.policy import gathered_params
from lit_agents.scoring import choice_logprobs, ranked_choice_correct

DEFAULT_TASKS = {"truthfulqa_mc1": [], "hhh": ["harmless", "helpful", "honest", "other"], "redteam_heldout": []}


class AlignmentEvalMixin:
    """Validation/test of an IterAlign policy. Expects ``self.model``, ``self.tokenizer``, the hyperparameters
    ``eval_max_length``, ``eval_batch_size``, ``eval_normalize`` and ``eval_before_training``, the loop
    state ``iteration``, ``history``, ``eval_history`` and ``_out_dir``, and ``judge_heldout(prompts)`` (one
    pass/fail per held-out red-team prompt: the policy's answer as the loop's judge sees it)."""

    def _init_eval_metrics(self, eval_tasks: dict[str, list[str]] | None) -> None:
        tasks = DEFAULT_TASKS if eval_tasks is None else eval_tasks
        self.metric_names = [f"{t}/all" for t in tasks] + [f"{t}/{c}" for t, cs in tasks.items() for c in cs]
        # MeanById: DistributedSampler's padding repeats count once
        self.eval_metrics = torch.nn.ModuleDict({n.replace("/", "__"): MeanById() for n in self.metric_names})

    def _score_batch(self, batch: dict[str, list], update: bool = True) -> None:
        """Update the accuracy metrics (``update=False``: score only, for the forward collectives of FSDP).
        Ranked-choice items count as correct when the gold option ranks first; held-out red-team prompts
        (items without ``choices``) when the judge passes the policy's answer."""
        if "choices" in batch:
            scores = choice_logprobs(self.model, self.tokenizer, batch["context"], batch["choices"],
                                     max_length=self.hparams.eval_max_length,
                                     batch_size=self.hparams.eval_batch_size, normalize=self.hparams.eval_normalize)
            oks, texts = ranked_choice_correct(scores, batch["label"]), batch["context"]
        else:
            oks, texts = self.judge_heldout(batch["prompt"]), batch["prompt"]
        if not update:
            return
        ids = batch.get("id") or [f"{t}/{c}" for t, c in zip(batch["task"], texts)]
        for rid, task, cat, ok in zip(ids, batch["task"], batch["category"], oks):
            key = f"{task}/all".replace("/", "__")
            if key not in self.eval_metrics:
                raise ValueError(f"evaluation task {task!r} is not in model.eval_tasks {self.metric_names}")
            self.eval_metrics[key].update(float(ok), rid)
            cat_key = f"{task}/{cat}".replace("/", "__")
            if cat_key in self.eval_metrics:
                self.eval_metrics[cat_key].update(float(ok), rid)

    def on_train_start(self) -> None:
        """Score the evaluation sets once before the first iteration (the base model: iteration 0)."""
        dm = self.trainer.datamodule
        if not self.hparams.eval_before_training or self.iteration > 0 or self.eval_history or dm is None:
            return
        loaders = dm.val_dataloader() or []
        world, rank = self.trainer.world_size, self.trainer.global_rank
        was_training = self.model.training
        self.model.eval()
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        # under FSDP every forward is a collective, so every rank runs every batch (and counts only its own)
        fsdp = isinstance(getattr(self.trainer.strategy, "model", None), FSDP)
        with torch.no_grad(), gathered_params(self):
            for loader in loaders:  # plain loaders: shard the batches by rank here
                for i, batch in enumerate(loader):
                    if i % world == rank or fsdp:
                        self._score_batch(batch, update=i % world == rank)
        self.model.train(was_training)
        values = self._finish_eval("val", to_logger=False)
        if values:
            self.eval_history.append({"iteration": 0, "stage": "val", "metrics": values})
            for lg in self.loggers:
                lg.log_metrics({f"val/{k}": v for k, v in values.items()}, step=0)
            if self.trainer.is_global_zero:
                write_outputs(self._out_dir, self.history, self.eval_history)

    def validation_step(self, batch: dict[str, list], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._score_batch(batch)

    def test_step(self, batch: dict[str, list], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._score_batch(batch)

    def _finish_eval(self, prefix: str, to_logger: bool = True) -> dict[str, float]:
        values = {}
        for name in self.metric_names:
            metric = self.eval_metrics[name.replace("/", "__")]
            with warnings.catch_warnings():  # a task absent from this run's eval sets was never updated
                warnings.simplefilter("ignore", UserWarning)
                val = metric.compute()  # syncs across ranks: every rank computes every metric, in the same order
            metric.reset()
            if torch.isfinite(val):
                values[name] = float(val)
                if to_logger:
                    self.log(f"{prefix}/{name}", val.item(), rank_zero_only=True)
        return values

    def on_validation_epoch_end(self) -> None:
        values = self._finish_eval("val")
        if self.trainer.sanity_checking or not values:
            return
        self.eval_history.append({"iteration": self.iteration, "stage": "val", "metrics": values})
        if self.trainer.is_global_zero:
            write_outputs(self._out_dir, self.history, self.eval_history)

    def on_test_epoch_end(self) -> None:
        values = self._finish_eval("test")
        if values:
            self.eval_history.append({"iteration": self.iteration, "stage": "test", "metrics": values})
            if self.trainer.is_global_zero:
                write_outputs(self._out_dir, self.history, self.eval_history)
