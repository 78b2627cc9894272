"""ToolRL (Qian et al. 2025): GRPO from a cold start with ``R = R_format + R_correct`` (separately weighted
reward functions, :mod:`lit_agents.tools.rewards`), optionally multi-turn with a tool environment; evaluated
greedily on tool-use records (:mod:`lit_agents.tools.metrics`) with per-record predictions written out.
"""
from __future__ import annotations

import json
import logging
from typing import Any

import torch
import torch.distributed as dist

from lit_agents.fileio import atomic_write_text
from lit_agents.logging_utils import log_table, run_dir
from lit_agents.methods.grpo import GRPOModule
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

    Every argument is GRPOModule's (see there: ``reward_funcs``/``reward_weights``/``reward_kwargs``/
    ``reward_weight_schedules`` for the reward design, ``tool_env`` for multi-turn episodes). Evaluation
    decodes greedily (``eval_max_new_tokens`` per turn) and logs ``{val,test}/toolrl/<metric>``; the test
    writes ``test_predictions.jsonl`` and ``test_toolrl_report.json`` into the run directory.
    """

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
            with gathered_params(self):
                ro = self.generate_group(rows[s:s + self.hparams.eval_batch_size], [records[i] for i in idx],
                                         num_generations=1, do_sample=False,
                                         max_completion_length=self.hparams.eval_max_new_tokens)
            made = getattr(ro, "num_tool_calls", None)
            for j, i in enumerate(idx):
                text = (records[i].get("assistant_prefix") or "") + ro.texts[j]
                results.append(score_prediction(text, records[i], None if made is None else int(made[j])))
        return results

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
