"""Pairwise reward-model evaluation: a generative judge picks A or B; accuracy in both A/B orders.

Records carry ``prompt`` (the rendered CoR conversation), ``label`` (``A``/``B``), ``pair_id``, ``order``
(``chosen_A`` or ``chosen_B``) and ``category``. The verdict is parsed from the last 80 characters as the
released reward does, so an output with both tags (or none) is unparseable and counted wrong.
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import Any

import torch.distributed as dist

from lit_agents.logging_utils import log_table, run_dir
from lit_agents.reward_benchmarks import BENCHMARK_FIELDS, markdown_table, write_report
from lit_agents.rewards import normalise_label, parse_verdict
from lit_agents.sampling.policy import gathered_params, sample_with_model

log = logging.getLogger(__name__)


def pairwise_metrics(results: list[dict[str, Any]]) -> dict[str, float]:
    """Accuracy overall, per order and per category; order agreement; verdict-A rate; unparseable rate.

    - ``accuracy``: verdict == label over all judged records (unparseable = wrong).
    - ``accuracy_chosen_A`` / ``accuracy_chosen_B``: the same on each presentation order; their gap
      ``position_bias`` = acc(chosen_A) − acc(chosen_B) (> 0: prefers the first slot).
    - ``agreement``: over pairs judged in both orders, the fraction where the judge picks the same underlying
      response both times (both verdicts parseable); ``both_correct``: right in both orders.
    - ``frac_verdict_A``: share of parseable verdicts that say A (0.5 = no slot preference).
    """
    if not results:
        return {}
    correct = [r["verdict"] == r["label"] for r in results]
    out: dict[str, float] = {"n": float(len(results)), "accuracy": sum(correct) / len(results)}
    out["unparseable"] = sum(r["verdict"] is None for r in results) / len(results)
    parsed = [r for r in results if r["verdict"] is not None]
    out["frac_verdict_A"] = (sum(r["verdict"] == "A" for r in parsed) / len(parsed)) if parsed else 0.0
    for order in ("chosen_A", "chosen_B"):
        sub = [c for c, r in zip(correct, results) if r["order"] == order]
        if sub:
            out[f"accuracy_{order}"] = sum(sub) / len(sub)
    if "accuracy_chosen_A" in out and "accuracy_chosen_B" in out:
        out["position_bias"] = out["accuracy_chosen_A"] - out["accuracy_chosen_B"]
    by_pair: dict[Any, dict[str, dict]] = defaultdict(dict)
    for r in results:
        by_pair[r["pair_id"]][r["order"]] = r
    both = [v for v in by_pair.values() if len(v) == 2]
    if both:
        agree = [v["chosen_A"]["verdict"] is not None and v["chosen_B"]["verdict"] is not None
                 and (v["chosen_A"]["verdict"] == "A") == (v["chosen_B"]["verdict"] == "B") for v in both]
        out["agreement"] = sum(agree) / len(both)
        out["both_correct"] = sum(v["chosen_A"]["verdict"] == "A" and v["chosen_B"]["verdict"] == "B"
                                  for v in both) / len(both)
    cats: dict[str, list[bool]] = defaultdict(list)
    for c, r in zip(correct, results):
        cats[str(r.get("category") or "all")].append(c)
    for cat, vals in cats.items():
        out[f"category/{cat}"] = sum(vals) / len(vals)
    return out


class PairwiseEvalMixin:
    """validation/test = judge every record greedily, gather across ranks, log :func:`pairwise_metrics`.

    Mixed into :class:`GRPOModule` and the RM-R1 distillation module; expects ``self.model``,
    ``self.tokenizer`` and the hyperparameters ``eval_max_new_tokens``, ``eval_batch_size`` and
    ``apply_chat_template`` (``self.hparams``).
    """

    _pairwise_results: list[dict[str, Any]]

    def _judge(self, batch: dict[str, list]) -> None:
        if not hasattr(self, "_pairwise_results"):
            self._pairwise_results = []
        for field in ("prompt", "label", "pair_id", "order"):
            if field not in batch:
                raise ValueError(f"pairwise evaluation needs a {field!r} column in each record "
                                 "(use data_modules.preference.PreferenceDataModule for val/test)")
        prompts = batch["prompt"]
        outs: list[str] = []
        with gathered_params(self):
            for s in range(0, len(prompts), self.hparams.eval_batch_size):
                outs += sample_with_model(self.model, self.tokenizer, prompts[s:s + self.hparams.eval_batch_size],
                                          max_new_tokens=self.hparams.eval_max_new_tokens, temperature=0.0,
                                          apply_chat_template=self.hparams.apply_chat_template and getattr(
                                              self.tokenizer, "chat_template", None) is not None)
        for i, text in enumerate(outs):
            self._pairwise_results.append({
                "pair_id": batch["pair_id"][i], "order": batch["order"][i], "label": normalise_label(batch["label"][i]),
                "category": batch.get("category", [None] * len(outs))[i], "verdict": parse_verdict(text),
                "output": text[-300:], **{k: batch[k][i] for k in BENCHMARK_FIELDS if k in batch}})

    # Judging happens at epoch end, outside the strategy's forward: under FSDP, full parameters can only be
    # gathered for ``generate`` there (the steps just queue their batches).
    def validation_step(self, batch: dict[str, list], batch_idx: int) -> None:
        self._queue(batch)

    def test_step(self, batch: dict[str, list], batch_idx: int) -> None:
        self._queue(batch)

    def _queue(self, batch: dict[str, list]) -> None:
        if not hasattr(self, "_pairwise_batches"):
            self._pairwise_batches = []
        self._pairwise_batches.append(batch)

    def _finish(self, stage: str) -> dict[str, float]:
        batches, self._pairwise_batches = getattr(self, "_pairwise_batches", []), []
        self._pairwise_results = []
        for batch in batches:
            self._judge(batch)
        local = self._pairwise_results
        self._pairwise_results = []
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            gathered: list[list[dict]] = [None] * dist.get_world_size()  # type: ignore[list-item]
            dist.all_gather_object(gathered, local)
            results = [r for part in gathered for r in part]
        else:
            results = local
        # a DistributedSampler pads by repeating records: keep one judgment per (pair, order)
        results = list({(r["pair_id"], r["order"]): r for r in results}.values())
        metrics = pairwise_metrics(results)
        if self.trainer.sanity_checking:
            return metrics
        if self.trainer.is_global_zero and any("benchmark" in r for r in results):  # RewardBench / RM-Bench / RMB
            table = write_report(run_dir(self.trainer), stage, results, judge="generative")
            log.info("%s reward benchmarks:\n%s", stage, markdown_table(table, judge="generative"))
        for k, v in metrics.items():
            self.log(f"{stage}/pairwise/{k}", float(v), rank_zero_only=True, batch_size=1)
        if self.trainer.is_global_zero and metrics:
            path = run_dir(self.trainer) / f"{stage}_pairwise_report.json"
            path.write_text(json.dumps({"step": self.global_step, **metrics}, indent=2))
            log.info("%s pairwise: %s", stage, json.dumps({k: round(v, 4) for k, v in metrics.items()}))
            log_table(self.trainer, f"{stage}/judgments", ["pair_id", "order", "label", "verdict", "output_tail"],
                      [[r["pair_id"], r["order"], r["label"], r["verdict"], r["output"]] for r in results[:8]])
        return metrics

    def on_validation_epoch_end(self) -> None:
        self._finish("val")

    def on_test_epoch_end(self) -> None:
        self._finish("test")
