"""RM-R1 stage 1 data: reasoning-trace distillation records ``y_trace = r ⊕ l`` for SFT.

An oracle :class:`~lit_agents.generation.TextGenerator` writes a CoR judgment for each (A/B-alternated)
training pair; traces whose parsed verdict matches the label are kept. As released, the failures go to a second
oracle whose prompt adds the correct verdict and the previous wrong judgment; the trace it writes is trained
on with the *original* prompt. Kept traces are appended to ``traces_path`` (a JSONL of
``{pair_id, order, trace, attempt}``) and oracle calls go through
:class:`~lit_agents.generation.CachedGenerator`, so an interrupted collection resumes: a run killed mid-append
leaves at most a torn last line, which the next run cuts off and writes again (from the oracle cache). Every
pair ends up kept or counted as dropped (``<traces_path>.stats.json``, over all training pairs, written
atomically).
"""
from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path
from typing import Any, Literal

from data_modules.base import RecordsDataModule
from data_modules.io import read_records, samples_dir
from data_modules.preference import PreferenceSource, _src, build_records, load_sources
from lit_agents.fileio import DataError, atomic_write_text, repair_jsonl_tail
from lit_agents.generation import CachedGenerator, TextGenerator
from lit_agents.prompts import load_prompt
from lit_agents.rewards import parse_verdict

log = logging.getLogger(__name__)


def _with_hint(prompt: Any, label: str, previous: str) -> Any:
    """The released second-pass prompt: the user turn + the correct verdict + the previous wrong judgment."""
    hint = load_prompt("rm_r1_retry_hint").format(label=label, other="B" if label == "A" else "A",
                                                  previous=previous)
    if isinstance(prompt, str):
        return prompt + hint
    msgs = copy.deepcopy(prompt)
    msgs[-1]["content"] += hint
    return msgs


TRACE_FIELDS = {"pair_id": str, "order": str, "trace": str}
ORDERS = ("chosen_A", "chosen_B")


def _check_trace(rec: dict, path: str, line: int) -> dict:
    """A traces row: ``order`` is ``chosen_A``/``chosen_B`` and the optional ``attempt`` is 1 or 2."""
    if rec["order"] not in ORDERS:
        raise DataError(f"expected one of {list(ORDERS)}, got {rec['order']!r}", path=path, line=line, field="order")
    attempt = rec.get("attempt", 1)
    if isinstance(attempt, bool) or attempt not in (1, 2) or not isinstance(attempt, int):
        raise DataError(f"expected 1 (first oracle) or 2 (retry), got {attempt!r}", path=path, line=line,
                        field="attempt")
    return rec


def read_trace_rows(path: str | Path, *, on_error: Literal["raise", "skip"] = "raise") -> list[dict]:
    """The rows of a traces JSONL (``{pair_id, order, trace, attempt?}``); a bad row raises a DataError naming
    the file, line and field, or is a counted skip under ``on_error="skip"``."""
    return read_records(str(path), required=TRACE_FIELDS, on_error=on_error, name="traces", transform=_check_trace)


def collect_traces(records: list[dict], oracle: TextGenerator, retry_oracle: TextGenerator | None = None,
                   **sampling: Any) -> tuple[list[dict], dict[str, int]]:
    """Ask the oracle for a judgment of each record; keep those whose verdict equals ``label``.

    Returns ``(kept, stats)``; kept rows are ``{pair_id, order, trace, attempt}`` (attempt 1 = first oracle,
    2 = retry with the correct verdict given).
    """
    outs = oracle.generate([r["prompt"] for r in records], **sampling)
    kept, failed = [], []
    for r, out in zip(records, outs):
        if parse_verdict(out) == r["label"]:
            kept.append({"pair_id": r["pair_id"], "order": r["order"], "trace": out, "attempt": 1})
        else:
            failed.append((r, out))
    stats = {"pairs": len(records), "kept_first": len(kept), "kept_retry": 0, "dropped": len(failed)}
    if failed and retry_oracle is not None:
        retry = retry_oracle.generate([_with_hint(r["prompt"], r["label"], out) for r, out in failed], **sampling)
        for (r, _), out in zip(failed, retry):
            if parse_verdict(out) == r["label"]:
                kept.append({"pair_id": r["pair_id"], "order": r["order"], "trace": out, "attempt": 2})
                stats["kept_retry"] += 1
        stats["dropped"] = stats["pairs"] - stats["kept_first"] - stats["kept_retry"]
    return kept, stats


class TraceDistillDataModule(RecordsDataModule):
    """SFT records (CoR prompt → trace) for stage 1, plus pairwise evaluation records for val/test.

    Args:
        pairs: training preference sources (default: the bundled hh-rlhf harmless-base train pairs).
        val: evaluation sources, judged in both A/B orders (default: the bundled val pairs; ``[]`` = none).
        test: test sources, judged in both A/B orders (default: ``val``).
        traces_path: JSONL of collected traces; read when present, appended to by the oracle (default: the
            bundled template traces when ``pairs`` is the default).
        oracle / retry_oracle: trace writers (any ``TextGenerator``, e.g. ``OpenAIGenerator``); without an
            oracle, pairs missing from ``traces_path`` are counted and left out.
        oracle_cache_dir: where the oracles' resumable response caches live (default: beside ``traces_path``).
        max_new_tokens / temperature: oracle sampling.
        system_prompt / max_response_chars / prompt_format: CoR rendering (see ``PreferenceDataModule``).
        on_error: ``raise`` on the first bad pair or traces row (a DataError naming file, line and field), or
            ``skip`` it and count it (a skipped traces row counts as a pair without a trace).
        oracle: the trace writer (any ``TextGenerator``); without one the traces file must exist.
        retry_oracle: writer asked again, with a hint, when the oracle's verdict is wrong.
        max_new_tokens: tokens per oracle trace.
        temperature: oracle sampling temperature (0 = greedy).
        system_prompt: prompt template name under ``lit_agents/prompts``.
        max_response_chars: cut each response and question to this many characters.
        prompt_format: ``messages`` (chat turns) or ``text`` (one rendered string).
        batch_size: training records per batch per rank.
        eval_batch_size: validation/test records per batch per rank (default: ``batch_size``).
        num_workers: dataloader worker processes.
        seed: seed of the shuffling and of seeded splits.
    """

    def __init__(self, pairs: list[PreferenceSource] | None = None, val: list[PreferenceSource] | None = None,
                 traces_path: str | None = None, oracle: TextGenerator | None = None,
                 retry_oracle: TextGenerator | None = None, oracle_cache_dir: str | None = None,
                 max_new_tokens: int = 4096, temperature: float = 0.0, system_prompt: str = "rm_r1_cor_system",
                 max_response_chars: int | None = None, prompt_format: Literal["messages", "text"] = "messages",
                 on_error: Literal["raise", "skip"] = "raise", batch_size: int = 8,
                 eval_batch_size: int | None = None, num_workers: int = 0, seed: int = 0,
                 test: list[PreferenceSource] | None = None):
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, num_workers=num_workers, seed=seed)
        bundled = samples_dir() / "rm_r1"
        if pairs is None:
            pairs = [PreferenceSource(str(bundled / "hh_harmless_train.jsonl"))]
            traces_path = traces_path or str(bundled / "traces_template.jsonl")
        if traces_path is None:
            raise ValueError("data.traces_path: where to read/write the distillation traces (a .jsonl path)")
        if val is None:
            val = [PreferenceSource(str(bundled / "hh_harmless_val.jsonl"))]
        self.pair_sources, self.val_sources = [_src(p) for p in pairs], [_src(v) for v in val]
        self.test_sources = [_src(t) for t in test] if test is not None else None
        self.traces_path = Path(traces_path)
        self.oracle, self.retry_oracle = oracle, retry_oracle
        self.cache_dir = Path(oracle_cache_dir) if oracle_cache_dir else self.traces_path.parent / "oracle_cache"
        self.sampling = dict(max_new_tokens=max_new_tokens, temperature=temperature)
        self.render = dict(system_prompt=load_prompt(system_prompt), max_response_chars=max_response_chars,
                           prompt_format=prompt_format)
        self.on_error = on_error
        self.stats: dict[str, int] = {}

    def _train_pair_records(self) -> list[dict]:
        return build_records(load_sources(self.pair_sources, on_error=self.on_error), both_orders=False,
                             **self.render)

    def _trace_rows(self) -> list[dict]:
        return read_trace_rows(self.traces_path, on_error=self.on_error) if self.traces_path.exists() else []

    def _read_traces(self) -> dict[tuple[str, str], str]:
        return {(r["pair_id"], r["order"]): r["trace"] for r in self._trace_rows()}

    def prepare_data(self) -> None:
        """Collect the missing traces with the oracle (rank 0 only; Lightning calls this once per node)."""
        if self.oracle is None:
            return
        records = self._train_pair_records()
        repair_jsonl_tail(self.traces_path)  # a run killed mid-append: that trace is written again below
        rows = self._trace_rows()
        have = {(r["pair_id"], r["order"]) for r in rows}
        missing = [r for r in records if (r["pair_id"], r["order"]) not in have]
        if missing:
            cache = lambda g, name: CachedGenerator(g, str(self.cache_dir / f"{name}.jsonl"))  # noqa: E731
            oracle = cache(self.oracle, "oracle")
            retry = cache(self.retry_oracle, "retry_oracle") if self.retry_oracle is not None else None
            kept, _ = collect_traces(missing, oracle, retry, **self.sampling)
            self.traces_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.traces_path, "a", encoding="utf-8") as f:
                for row in kept:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())
            rows += kept
        stats_path = self.traces_path.with_suffix(".stats.json")
        bundled = samples_dir().resolve() in self.traces_path.resolve().parents
        if not self.traces_path.is_file() or (not missing and (stats_path.is_file() or bundled)):
            return  # nothing new (a run killed between the append and the stats still gets them below)
        # over every training pair (not only this run's), so a resumed or repeated run reports the whole set
        attempts = {(r["pair_id"], r["order"]): r.get("attempt", 1) for r in rows}
        got = [attempts[(r["pair_id"], r["order"])] for r in records if (r["pair_id"], r["order"]) in attempts]
        stats = {"pairs": len(records), "kept_first": sum(1 for a in got if a != 2),
                 "kept_retry": sum(1 for a in got if a == 2), "dropped": len(records) - len(got)}
        atomic_write_text(stats_path, json.dumps(stats, indent=2))
        log.info("RM-R1 traces: %s (written to %s)", stats, self.traces_path)

    def setup(self, stage: str | None = None) -> None:
        records = self._train_pair_records()
        traces = self._read_traces()
        train = [{"prompt": r["prompt"], "response": traces[(r["pair_id"], r["order"])], "label": r["label"]}
                 for r in records if (r["pair_id"], r["order"]) in traces]
        self.stats = {"pairs": len(records), "with_trace": len(train), "without_trace": len(records) - len(train)}
        if self.stats["without_trace"]:
            log.warning("RM-R1 traces: %d of %d training pairs have no kept trace in %s and are left out",
                        self.stats["without_trace"], len(records), self.traces_path)
        self.train_records = train
        val_pairs = load_sources(self.val_sources, on_error=self.on_error)
        self.val_records = build_records(val_pairs, both_orders=True, **self.render)
        self.test_records = self.val_records if self.test_sources is None else build_records(
            load_sources(self.test_sources, on_error=self.on_error), both_orders=True, **self.render)

    def val_dataloader(self):
        return self._loader(self.val_records, train=False) if self.val_records else []
