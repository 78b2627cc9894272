"""Extractive QA data: SQuAD json and MRQA jsonl readers, few-shot sampling, Splinter pre-sampled files.

Every reader returns *QA records*, one per (context, question) pair::

    {"id": str, "context": str, "question": str, "answers": [str, ...], "answer_starts": [int, ...]}

``answers`` are the gold texts used for evaluation (max F1 over them); ``answer_starts[i]`` is the character
offset of ``answers[i]`` in ``context`` (``-1`` when the dataset gives the text but no span, e.g. MRQA gold
answers that were not detected in the context).

Bad input raises :class:`data_modules.io.DataError` naming the file, the line (jsonl) or record id, and the
field; with ``on_error="skip"`` the offending QA pair is skipped and counted in the returned
:class:`ReadStats` (and logged) -- never dropped silently.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lit_agents.fileio import DataError, read_utf8

log = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]

# Splinter's few-shot files: {dataset}-train-seed-{s}-num-examples-{k}.jsonl (MRQA jsonl with a header line).
SPLINTER_TEMPLATE = "{dataset}-train-seed-{seed}-num-examples-{k}.jsonl"


@dataclass
class ReadStats:
    """How many QA pairs were read and how many were skipped, by reason."""

    path: str
    read: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())


def _fail(stats: ReadStats, on_error: OnError, message: str, *, line: int | None, field_: str, reason: str) -> None:
    if on_error == "raise":
        raise DataError(message, path=stats.path, line=line, field=field_)
    stats.skip(reason)


def _check_qa(
    rec: dict[str, Any], stats: ReadStats, on_error: OnError, line: int | None, where: str
) -> bool:
    """Validate one normalised QA record in place; return False when it must be skipped."""
    if not isinstance(rec["question"], str) or not rec["question"].strip():
        _fail(stats, on_error, f"{where}: empty question", line=line, field_="question", reason="empty question")
        return False
    if not rec["answers"] or not all(isinstance(a, str) and a.strip() for a in rec["answers"]):
        _fail(stats, on_error, f"{where}: no non-empty gold answer", line=line, field_="answers",
              reason="no answer")
        return False
    ctx = rec["context"]
    for text, start in zip(rec["answers"], rec["answer_starts"]):
        if start < 0:
            continue
        if ctx[start:start + len(text)] != text:
            _fail(stats, on_error,
                  f"{where}: answer {text!r} is not at context[{start}:{start + len(text)}] "
                  f"(found {ctx[start:start + len(text)]!r})",
                  line=line, field_="answers", reason="answer span not in context")
            return False
    if all(s < 0 for s in rec["answer_starts"]) and not any(a in ctx for a in rec["answers"]):
        _fail(stats, on_error, f"{where}: no gold answer occurs in the context", line=line, field_="answers",
              reason="answer not in context")
        return False
    return True


def read_squad(path: str | Path, *, on_error: OnError = "raise") -> tuple[list[dict], ReadStats]:
    """Read a SQuAD v1.1-format json file (``{"data": [{"paragraphs": [{"context", "qas"}]}]}``)."""
    path = Path(path)
    stats = ReadStats(str(path))
    try:
        doc = json.loads(read_utf8(path))
    except json.JSONDecodeError as err:
        raise DataError(f"invalid json: {err.msg}", path=str(path), line=err.lineno, field=None) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise DataError("expected a SQuAD json object with a 'data' list", path=str(path), field="data")
    out: list[dict] = []
    for a_i, article in enumerate(doc["data"]):
        paras = article.get("paragraphs", []) if isinstance(article, dict) else None
        if not isinstance(paras, list):
            raise DataError(f"data[{a_i}]: expected an article object with a 'paragraphs' list", path=str(path),
                            field="paragraphs")
        for p_i, para in enumerate(paras):
            ctx = para.get("context") if isinstance(para, dict) else None
            if not isinstance(ctx, str) or not ctx.strip():
                raise DataError(f"data[{a_i}].paragraphs[{p_i}]: missing or empty context", path=str(path),
                                field="context")
            qas = para.get("qas", [])
            if not isinstance(qas, list):
                raise DataError(f"data[{a_i}].paragraphs[{p_i}]: 'qas' is not a list", path=str(path), field="qas")
            for q_i, qa in enumerate(qas):
                where = f"data[{a_i}].paragraphs[{p_i}].qas[{q_i}]"
                answers = qa.get("answers") if isinstance(qa, dict) else None
                if not isinstance(qa, dict) or not isinstance(answers or [], list) or not all(
                        isinstance(a, dict) and isinstance(a.get("text", ""), str)
                        and isinstance(a.get("answer_start", -1), int) and not isinstance(a.get("answer_start"), bool)
                        for a in answers or []):
                    _fail(stats, on_error, f"{where}: expected {{id, question, answers: [{{text, answer_start}}]}}",
                          line=None, field_="answers", reason="malformed qa")
                    continue
                answers = answers or []
                qid = str(qa.get("id", f"{a_i}-{p_i}-{q_i}"))
                rec = {
                    "id": qid,
                    "context": ctx,
                    "question": qa.get("question", ""),
                    "answers": [a.get("text", "") for a in answers],
                    "answer_starts": [int(a.get("answer_start", -1)) for a in answers],
                }
                if _check_qa(rec, stats, on_error, None, f"{where} (question id {qid})"):
                    out.append(rec)
                    stats.read += 1
    _log_stats(stats)
    return out, stats


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    text = read_utf8(path)
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"invalid json: {err.msg}", path=str(path), line=line_no, field=None) from None
        yield line_no, obj


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _mrqa_qa_ok(qa: Any) -> bool:
    """The shape ``read_mrqa`` relies on (wrong types are refused as a located DataError, not a TypeError)."""
    if not isinstance(qa, dict):
        return False
    answers, dets = qa.get("answers") or [], qa.get("detected_answers") or []
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers) or not isinstance(dets, list):
        return False
    for det in dets:
        if not isinstance(det, dict) or not isinstance(det.get("text", ""), str):
            return False
        spans = det.get("char_spans") or []
        if not isinstance(spans, list) or not all(isinstance(sp, list) and len(sp) == 2 and all(map(_is_int, sp))
                                                  for sp in spans):
            return False
    return True


def read_mrqa(path: str | Path, *, on_error: OnError = "raise") -> tuple[list[dict], ReadStats]:
    """Read an MRQA-format jsonl file: an optional ``{"header": ...}`` line, then one context per line with
    several ``qas`` (``answers`` = gold texts, ``detected_answers[*].char_spans`` = inclusive char spans)."""
    path = Path(path)
    stats = ReadStats(str(path))
    out: list[dict] = []
    for line_no, obj in _iter_jsonl(path):
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {type(obj).__name__}", path=str(path), line=line_no)
        if "header" in obj:
            continue
        ctx = obj.get("context")
        if not isinstance(ctx, str) or not ctx.strip():
            raise DataError("missing or empty context", path=str(path), line=line_no, field="context")
        qas = obj.get("qas")
        if not isinstance(qas, list):
            raise DataError("missing 'qas' list", path=str(path), line=line_no, field="qas")
        for q_i, qa in enumerate(qas):
            if not _mrqa_qa_ok(qa):
                _fail(stats, on_error, f"qas[{q_i}]: expected {{qid, question, answers: [str], detected_answers: "
                      "[{text, char_spans: [[start, end]]}]}", line=line_no, field_="qas", reason="malformed qa")
                continue
            qid = str(qa.get("qid") or qa.get("id") or f"line{line_no}-{q_i}")
            answers, starts = [], []
            for det in qa.get("detected_answers") or []:
                for s, e in det.get("char_spans") or []:
                    # MRQA char spans are inclusive: context[s:e+1] is the answer.
                    answers.append(ctx[s:e + 1] if 0 <= s <= e < len(ctx) else det.get("text", ""))
                    starts.append(int(s) if 0 <= s <= e < len(ctx) else -1)
            for text in qa.get("answers") or []:  # gold texts without a detected span still count for F1
                if text not in answers:
                    answers.append(text)
                    starts.append(-1)
            rec = {"id": qid, "context": ctx, "question": qa.get("question", ""), "answers": answers,
                   "answer_starts": starts}
            if _check_qa(rec, stats, on_error, line_no, f"qa {qid}"):
                out.append(rec)
                stats.read += 1
    _log_stats(stats)
    return out, stats


def read_qa(path: str | Path, *, on_error: OnError = "raise") -> tuple[list[dict], ReadStats]:
    """Read SQuAD json (``.json``) or MRQA jsonl (``.jsonl``), chosen by the file extension."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path=str(path), field=None)
    if path.suffix == ".json":
        return read_squad(path, on_error=on_error)
    if path.suffix == ".jsonl":
        return read_mrqa(path, on_error=on_error)
    raise DataError(f"unknown QA file type {path.suffix!r} (expected .json SQuAD or .jsonl MRQA)",
                    path=str(path), field=None)


def _log_stats(stats: ReadStats) -> None:
    if stats.n_skipped:
        log.warning("%s: read %d QA pairs, skipped %d (%s)", stats.path, stats.read, stats.n_skipped,
                    ", ".join(f"{k}: {v}" for k, v in sorted(stats.skipped.items())))


def sample_few_shot(records: list[dict], k: int | None, seed: int) -> list[dict]:
    """Sample ``k`` QA pairs without replacement with ``random.Random(seed)`` (all records when k is None).

    Deterministic for a given (records order, k, seed); raises when fewer than k records exist."""
    if k is None:
        return list(records)
    if k <= 0:
        raise ValueError(f"num_examples must be positive, got {k}")
    if k > len(records):
        raise ValueError(f"asked for {k} few-shot examples but only {len(records)} QA pairs are available")
    return random.Random(seed).sample(records, k)


_PLACEHOLDER = re.compile(r"\{(seed|k|num_examples|dataset)\}")


def is_presampled_template(path: str) -> bool:
    """True when ``path`` holds ``{seed}``/``{k}`` placeholders, i.e. names Splinter-style pre-sampled files."""
    return bool(_PLACEHOLDER.search(path))


def resolve_presampled(path: str, *, seed: int, k: int | None, dataset: str | None = None) -> Path:
    """Fill a Splinter-style path template, e.g. ``data/squad-train-seed-{seed}-num-examples-{k}.jsonl``."""
    resolved = path.format(seed=seed, k=k, num_examples=k, dataset=dataset or "")
    return Path(resolved)
