"""Readers for RM-R1's benchmark suite, and a DataModule that presents every comparison in both A/B orders.

- :func:`load_rewardbench`: RewardBench's ``filtered`` split (hub name ``allenai/reward-bench`` or a local
  json/jsonl/parquet file) with ``prompt``, ``chosen``, ``rejected``, ``subset`` (``id`` optional).
- :func:`load_rm_bench`: RM-Bench files (``id``, ``prompt``, ``chosen``/``rejected`` = 3 styles each): the 9
  comparisons (chosen style i, rejected style j) of the 3 × 3 matrix; the domain comes from the file name
  (``chat_filtered.json`` → chat, ``safety-refuse_filtered.json`` → safety) or a ``domain`` field.
- :func:`load_rmb`: RMB files or folders (Pairwise_set: ``pair_uid``, ``conversation_input``, ``chosen``,
  ``reject``; BoN_set: ``bon_uid``, ``bon_best``, ``loser_list``): one comparison per pair, or per loser.

A comparison is ``{benchmark, subset, item_id, cell, conversation, chosen, rejected}``; scores are computed by
:mod:`lit_agents.reward_benchmarks`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from data_modules import rm_bench
from data_modules.base import RecordsDataModule
from data_modules.io import read_records, samples_dir
from data_modules.preference import PreferenceSource, load_sources, render_cor_prompt
from lit_agents.fileio import DataError
from lit_agents.prompts import load_prompt

OnError = Literal["raise", "skip"]


def _text(rec: dict, field: str, path: str, line: int) -> str:
    val = rec.get(field)
    if not isinstance(val, str) or not val.strip():
        raise DataError("expected a non-empty string", path=path, line=line, field=field)
    return val


def load_rewardbench(source: str, *, split: str | None = "filtered", on_error: OnError = "raise") -> list[dict]:
    """RewardBench rows → comparisons (one per row); ``split`` applies to hub datasets only."""
    is_file = Path(source).exists()

    def transform(rec: dict, path: str, line: int) -> dict:
        return {"benchmark": "rewardbench", "subset": _text(rec, "subset", path, line),
                "item_id": f"{Path(path).name}:{rec.get('id', line)}", "cell": None,
                "conversation": [{"role": "user", "content": _text(rec, "prompt", path, line)}],
                "chosen": _text(rec, "chosen", path, line), "rejected": _text(rec, "rejected", path, line)}

    return read_records(source, split=None if is_file else split, on_error=on_error, name="RewardBench rows",
                        transform=transform)


def load_rm_bench(path: str, *, on_error: OnError = "raise") -> list[dict]:
    """RM-Bench items → the 9 comparisons (``cell`` = ``"i,j"``) of each item's style matrix
    (:mod:`data_modules.rm_bench`)."""

    def transform(rec: dict, where: str, line: int) -> list[dict]:
        return rm_bench.style_matrix(rm_bench.read_item(rec, where, line))

    rows = read_records(path, on_error=on_error, name="RM-Bench items", transform=transform)
    return [c for row in rows for c in row]


def _rmb_answer(val: Any, path: str, line: int, field: str) -> str:
    if not (isinstance(val, dict) and isinstance(val.get("answer"), str)):
        raise DataError("expected {'llm_name', 'answer'} with a string answer", path=path, line=line, field=field)
    return val["answer"]


def _rmb_conversation(rec: dict, path: str, line: int) -> list[dict[str, str]]:
    conv = rec.get("conversation_input")
    if not (isinstance(conv, list) and conv and all(isinstance(m, dict) and isinstance(m.get("role"), str)
                                                   and isinstance(m.get("content"), str) for m in conv)):
        raise DataError("expected a list of {role, content} messages", path=path, line=line,
                        field="conversation_input")
    if conv[-1]["role"] != "user":
        raise DataError("the conversation must end with a user turn", path=path, line=line,
                        field="conversation_input")
    return [{"role": m["role"], "content": m["content"]} for m in conv]


def _rmb_section(rec: dict, path: str, line: int) -> tuple[str, str]:
    cat = rec.get("category_path")
    parts = cat.split("/") if isinstance(cat, str) else []
    if len(parts) < 2 or parts[1] not in ("Helpfulness", "Harmlessness"):
        raise DataError("expected '<Pairwise_set|BoN_set>/<Helpfulness|Harmlessness>/...'", path=path, line=line,
                        field="category_path")
    return parts[1], "/".join(parts[2:])


def rmb_files(path: str) -> list[str]:
    """``path`` itself, or every ``*.json`` under the folder ``path`` (sorted)."""
    root = Path(path)
    files = sorted(str(f) for f in root.rglob("*.json")) if root.is_dir() else [str(root)]
    if not files:
        raise DataError("no *.json files found", path=path)
    return files


def load_rmb(path: str, *, on_error: OnError = "raise") -> list[dict]:
    """RMB records (a file, or a folder searched for ``*.json``) → pairwise and Best-of-N comparisons."""
    files = rmb_files(path)

    def transform(rec: dict, where: str, line: int) -> list[dict]:
        conv = _rmb_conversation(rec, where, line)
        section, _ = _rmb_section(rec, where, line)
        if "pair_uid" in rec:
            return [{"benchmark": "rmb_pairwise", "subset": section,
                     "item_id": f"{rec['category_path']}:{rec['pair_uid']}", "cell": None, "conversation": conv,
                     "chosen": _rmb_answer(rec.get("chosen"), where, line, "chosen"),
                     "rejected": _rmb_answer(rec.get("reject"), where, line, "reject")}]
        if "bon_uid" in rec:
            best = _rmb_answer(rec.get("bon_best"), where, line, "bon_best")
            losers = rec.get("loser_list")
            if not (isinstance(losers, list) and losers):
                raise DataError("expected a non-empty list of losers", path=where, line=line, field="loser_list")
            return [{"benchmark": "rmb_bon", "subset": section, "item_id": f"{rec['category_path']}:{rec['bon_uid']}",
                     "cell": str(k),
                     "conversation": conv, "chosen": best,
                     "rejected": _rmb_answer(loser, where, line, f"loser_list[{k}]")} for k, loser in enumerate(losers)]
        raise DataError("neither 'pair_uid' (Pairwise_set) nor 'bon_uid' (BoN_set) is present", path=where, line=line)

    out: list[dict] = []
    for f in files:
        out += [c for row in read_records(f, on_error=on_error, name="RMB records", transform=transform)
                for c in row]
    return out


def first_items(comparisons: list[dict], limit: int | None) -> list[dict]:
    """The comparisons of the first ``limit`` distinct items (all when ``limit`` is None)."""
    if limit is None:
        return comparisons
    keep: set[str] = set()
    out = []
    for c in comparisons:
        if c["item_id"] not in keep and len(keep) >= limit:
            continue
        keep.add(c["item_id"])
        out.append(c)
    return out


def judge_records(comparisons: list[dict], **render: Any) -> list[dict]:
    """Each comparison in both orders: the CoR prompt (generative judge) and the two responses (scalar RM)."""
    out = []
    for c in comparisons:
        for first in (True, False):
            prompt, label = render_cor_prompt(c, first, **render)
            a, b = (c["chosen"], c["rejected"]) if first else (c["rejected"], c["chosen"])
            out.append({"prompt": prompt, "label": label, "order": "chosen_A" if first else "chosen_B",
                        "pair_id": f"{c['benchmark']}:{c['item_id']}:{c['cell']}", "category": c["benchmark"],
                        "benchmark": c["benchmark"], "subset": c["subset"], "item_id": c["item_id"],
                        "cell": c["cell"], "conversation": c["conversation"], "response_A": a, "response_B": b})
    return out


class RewardBenchmarksDataModule(RecordsDataModule):
    """Test records of RewardBench, RM-Bench and RMB (every comparison in both A/B orders), and optional
    training pairs (``{conversation, chosen, rejected}``) for the scalar Bradley–Terry baseline.

    Args:
        rewardbench: RewardBench sources (hub name, e.g. ``allenai/reward-bench``, or files).
        rm_bench: RM-Bench files (e.g. ``../shared/data/rm_bench/chat_filtered.json``).
        rmb: RMB files or folders (your clone's ``RMB_dataset/Pairwise_set`` and ``BoN_set``).
        train: preference sources for training a scalar reward model (``data_modules.preference`` formats).
        limit: keep the first N items of each benchmark file (an RM-Bench item is 9 comparisons, an RMB
            Best-of-N item one per loser; CPU smoke runs); None = all.
        system_prompt: the judge's system prompt (a prompt name or path), as in ``PreferenceDataModule``.
        max_response_chars: cut each response to this many characters when rendering (None = keep all).
        prompt_format: ``messages`` (chat messages) or ``text`` (one rendered string).
        on_error: ``raise`` a located ``DataError`` on a bad record, or ``skip`` it and count the skip.
        batch_size: training pairs per batch per rank.
        eval_batch_size: evaluation comparisons per batch (default: ``batch_size``).
        num_workers: DataLoader worker processes.
        seed: seed of the training order.
    """

    def __init__(self, rewardbench: list[str] | None = None, rm_bench: list[str] | None = None,
                 rmb: list[str] | None = None, train: list[PreferenceSource] | None = None, limit: int | None = None,
                 system_prompt: str = "rm_r1_cor_system", max_response_chars: int | None = None,
                 prompt_format: Literal["messages", "text"] = "messages", on_error: OnError = "raise",
                 batch_size: int = 4, eval_batch_size: int | None = None, num_workers: int = 0, seed: int = 0):
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, num_workers=num_workers, seed=seed)
        bundled = samples_dir() / "reward_benchmarks"
        self.rewardbench = [str(bundled / "rewardbench_schema.jsonl")] if rewardbench is None else list(rewardbench)
        self.rm_bench = [str(bundled / "rm_bench_schema.json")] if rm_bench is None else list(rm_bench)
        self.rmb = [str(bundled / "rmb_schema")] if rmb is None else list(rmb)
        self.train_sources = list(train or [])
        self.limit, self.on_error = limit, on_error
        self.render = dict(system_prompt=load_prompt(system_prompt), max_response_chars=max_response_chars,
                           prompt_format=prompt_format)

    def comparisons(self) -> list[dict]:
        """Every comparison of every configured benchmark source."""
        out: list[dict] = []
        rmb = [f for src in self.rmb for f in rmb_files(src)]
        for loader, sources in ((load_rewardbench, self.rewardbench), (load_rm_bench, self.rm_bench),
                                (load_rmb, rmb)):
            for src in sources:
                out += first_items(loader(src, on_error=self.on_error), self.limit)
        return out

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit"):
            pairs = load_sources(self.train_sources, on_error=self.on_error)
            self.train_records = [{"conversation": p["conversation"], "chosen": p["chosen"],
                                   "rejected": p["rejected"]} for p in pairs if "rendered" not in p]
        if stage in (None, "fit", "validate", "test", "predict"):
            records = judge_records(self.comparisons(), **self.render)
            if not records:
                raise DataError("no benchmark comparisons were loaded (rewardbench, rm_bench and rmb are empty)")
            self.val_records = self.test_records = self.predict_records = records
