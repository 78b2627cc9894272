"""TinyLLM's data: multiple-choice examples plus one rationale per teacher, collected once in ``prepare_data``.

``prepare_data`` (rank 0) loads every dataset, asks each teacher for a rationale of every training question
(resumable through the teachers' caches), parses and counts them, and writes ``<cache_dir>/<fingerprint>/``
``train.jsonl`` + ``stats.json``; ``setup`` (every rank) reads that file, so a second run with the same config
reuses it. Batches are column dicts (``collate_records``) with::

    id, dataset, input (student input, no prefix), target (label text to learn), answer_text (gold),
    choices, answer_index, rationales (one string per rationale teacher; "" when that teacher has none)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Literal

from data_modules.base import RecordsDataModule
from data_modules.mcqa import MCQASource, resolve_path, student_input
from data_modules.rationales import STATUSES, RationaleSource, parse_rationale
from lit_agents.fileio import DataError, atomic_write_text, content_sha256

log = logging.getLogger(__name__)


def _item(ex: dict, target: str, rationales: list[str]) -> dict:
    return {"id": ex["id"], "dataset": ex["dataset"], "input": student_input(ex["question"], ex["choices"]),
            "target": target, "answer_text": ex["answer_text"], "choices": ex["choices"],
            "answer_index": ex["answer_index"], "rationales": rationales}


class MCQADistillDataModule(RecordsDataModule):
    """Multiple-choice QA with multi-teacher rationales (TinyLLM, dissertation ch. 3).

    Args:
        datasets: the datasets (metrics are reported per ``name``).
        teachers: rationale sources (``GeneratorTeacher`` for live models/endpoints, ``PreCollectedRationales``).
        rationale_teachers: teachers whose rationales become student tasks, in prefix order (default: all;
            ``[]`` for full fine-tuning or standard KD).
        label_source: ``gold`` (the dataset's answer) or a teacher name: standard KD learns that teacher's own
            answer (examples where it stated none fall back to gold; the fallback is counted).
        cache_dir: where teacher caches and the processed training file live.
        max_rationale_chars: cut rationales at a word boundary after this many characters (the module also
            truncates targets to ``max_target_length`` tokens).
        min_words: a rationale with fewer words is counted as unparseable and not used.
        batch_size, eval_batch_size, num_workers: dataloaders.
        on_error: ``raise`` on a bad record (file, line, field named) or ``skip`` it (counted and logged).
        seed: seeds the training-set shuffle (a resumable sampler: a resumed run neither repeats nor skips).
        batch_size: training records per batch per rank.
        eval_batch_size: validation/test records per batch per rank (default: ``batch_size``).
        num_workers: dataloader worker processes.
    """

    def __init__(self, datasets: list[MCQASource], teachers: list[RationaleSource] | None = None,
                 rationale_teachers: list[str] | None = None, label_source: str = "gold",
                 cache_dir: str = "runs/tinyllm/cache", max_rationale_chars: int | None = 1024, min_words: int = 3,
                 batch_size: int = 8, eval_batch_size: int = 16, num_workers: int = 0,
                 on_error: Literal["raise", "skip"] = "raise", seed: int = 0):
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, num_workers=num_workers, seed=seed)
        if not datasets:
            raise ValueError("data.datasets: give at least one dataset")
        names = [d.name for d in datasets]
        if len(set(names)) != len(names) or "all" in names:
            raise ValueError(f"data.datasets: dataset names must be unique and not 'all' (the overall metric), "
                             f"got {names}")
        self.sources, self.teachers = list(datasets), list(teachers or [])
        tnames = [t.name for t in self.teachers]
        if len(set(tnames)) != len(tnames):
            raise ValueError(f"data.teachers: teacher names must be unique, got {tnames}")
        self.rationale_teachers = tnames if rationale_teachers is None else list(rationale_teachers)
        unknown = [t for t in self.rationale_teachers if t not in tnames]
        if unknown:
            raise ValueError(f"data.rationale_teachers: {unknown} are not among data.teachers {tnames}")
        if label_source != "gold" and label_source not in tnames:
            raise ValueError(f"data.label_source: 'gold' or a teacher name {tnames}, got {label_source!r}")
        self.label_source, self.cache_dir = label_source, Path(cache_dir)
        self.max_rationale_chars, self.min_words, self.on_error = max_rationale_chars, min_words, on_error
        self.splits: dict[str, list[dict]] = {}
        self.stats: dict = {}

    @property
    def dataset_names(self) -> list[str]:
        return [d.name for d in self.sources]

    @property
    def teacher_names(self) -> list[str]:
        return list(self.rationale_teachers)

    def fingerprint(self) -> str:
        # data files keyed by content, not path: an edited or replaced file gets a new processed directory
        files = {f"{d.name}.{k}": content_sha256(resolve_path(v)) for d in self.sources
                 for k, v in asdict(d).items() if k in ("train", "val", "test", "path", "labels", "test_ids") and v}
        blob = json.dumps({"datasets": [asdict(d) for d in self.sources], "data_files": files,
                           "teachers": [t.identity() for t in self.teachers],
                           "rationale_teachers": self.rationale_teachers, "label_source": self.label_source,
                           "max_chars": self.max_rationale_chars, "min_words": self.min_words}, sort_keys=True,
                          default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def processed_dir(self) -> Path:
        return self.cache_dir / self.fingerprint()

    def _load(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {"train": [], "val": [], "test": []}
        for src in self.sources:
            for split, exs in src.load(self.on_error).items():
                out[split] += exs
        if not out["train"]:
            raise ValueError("data.datasets: no training examples")
        return out

    def prepare_data(self) -> None:
        """Collect, parse and count teacher rationales for the training split (once; cached on disk)."""
        done = self.processed_dir / "train.jsonl"
        if done.is_file():
            log.info("reusing processed rationales in %s", self.processed_dir)
            return
        train = self._load()["train"]
        pool: dict[str, list[dict]] = {}
        for ex in train:
            pool.setdefault(ex["dataset"], []).append(ex)
        parsed: dict[str, list] = {}
        stats: dict = {"n_train": len(train), "teachers": {}}
        for teacher in self.teachers:
            raws = teacher.collect(train, pool, self.cache_dir)
            if len(raws) != len(train):
                raise RuntimeError(f"teacher {teacher.name} returned {len(raws)} outputs for {len(train)} examples")
            res = [parse_rationale(raw, ex["choices"], prompt=prompt, max_chars=self.max_rationale_chars,
                                   min_words=self.min_words) for ex, (raw, prompt) in zip(train, raws)]
            parsed[teacher.name] = res
            counts = Counter(r.status for r in res)
            labelled = [(r.label_index, ex["answer_index"]) for r, ex in zip(res, train) if r.label_index is not None]
            stats["teachers"][teacher.name] = {
                **{s: counts.get(s, 0) for s in STATUSES}, "with_label": len(labelled),
                "label_accuracy": (sum(a == b for a, b in labelled) / len(labelled)) if labelled else None}
            s = stats["teachers"][teacher.name]
            (log.warning if s["ok"] < len(train) else log.info)(
                "teacher %s: %d/%d usable rationales (empty %d, unparseable %d, missing %d); stated answer in %d "
                "(accuracy %s)", teacher.name, s["ok"], len(train), s["empty"], s["unparseable"], s["missing"],
                s["with_label"], "n/a" if s["label_accuracy"] is None else f"{s['label_accuracy']:.3f}")
        fallback = 0
        self.processed_dir.mkdir(parents=True, exist_ok=True)
        tmp = done.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for i, ex in enumerate(train):
                target = ex["answer_text"]
                if self.label_source != "gold":
                    li = parsed[self.label_source][i].label_index
                    if li is None:
                        fallback += 1
                    else:
                        target = ex["choices"][li]
                rats = [parsed[t][i].text if parsed[t][i].status == "ok" else "" for t in self.rationale_teachers]
                f.write(json.dumps(_item(ex, target, rats), ensure_ascii=False) + "\n")
        stats["label_source"], stats["label_fallback_to_gold"] = self.label_source, fallback
        if fallback:
            log.warning("label_source=%s: %d/%d examples had no teacher answer and use the gold label",
                        self.label_source, fallback, len(train))
        atomic_write_text(self.processed_dir / "stats.json", json.dumps(stats, indent=2))
        os.replace(tmp, done)  # written last (atomically): its presence means the whole collection finished

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        loaded = self._load()
        done = self.processed_dir / "train.jsonl"
        if not done.is_file():
            raise RuntimeError(f"{done} is missing: prepare_data() has not run (or failed) for this config")
        train = []
        with open(done, encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                try:
                    train.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise DataError(f"corrupt processed record ({e}); delete the folder to rebuild it",
                                    path=done, line=n) from None
        if len(train) != len(loaded["train"]):
            raise RuntimeError(f"{done} has {len(train)} records but the datasets have {len(loaded['train'])} "
                               "training examples; delete the folder to rebuild it")
        self.stats = json.loads((self.processed_dir / "stats.json").read_text())
        self.splits = {"train": train}
        for split in ("val", "test"):
            self.splits[split] = [_item(ex, ex["answer_text"], []) for ex in loaded[split]]
        self.train_records, self.val_records, self.test_records = (self.splits[s] for s in ("train", "val", "test"))
