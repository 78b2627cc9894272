"""Multiple-choice QA: read OpenBookQA, ARC, PIQA, RiddleSense, PubMedQA, BioASQ and generic jsonl into one
record shape, make seeded splits where a dataset ships only evaluation data, and render the student input.

Every loader returns plain dicts with the fields of :data:`MCQA_FIELDS`::

    {"id": str, "dataset": str, "split": str, "question": str, "choices": list[str],
     "answer_index": int, "answer_text": str}

Bad records raise :class:`~data_modules.io.DataError` naming the file, the 1-based line (jsonl) or record
number (json lists) and the field; under ``on_error="skip"`` they are counted and the count is logged.
"""

from __future__ import annotations

import ast
import json
import logging
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from data_modules.io import SkipCounter, iter_raw, samples_dir
from lit_agents.fileio import DataError, load_json_document, parse_json_line, read_utf8

log = logging.getLogger(__name__)
MCQA_FIELDS = ("id", "dataset", "split", "question", "choices", "answer_index", "answer_text")
Format = Literal["tinyllm", "ai2", "arc_llm_adapters", "piqa", "pubmedqa", "bioasq", "jsonl"]
OnError = Literal["raise", "skip"]
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def student_input(question: str, choices: list[str]) -> str:
    """TinyLLM's student input (released code): ``"{q}\\nAnswer Choices:\\n(a) {c0}\\n(b) {c1}..."``."""
    opts = "\n".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(choices))
    return f"{question}\nAnswer Choices:\n{opts}"


def resolve_path(path: str | Path) -> Path:
    """A file path; ``samples:<rel>`` points into the bundled ``data_modules/samples`` (works when installed)."""
    s = str(path)
    return samples_dir() / s[len("samples:"):] if s.startswith("samples:") else Path(s).expanduser()


def _example(*, id: Any, dataset: str, split: str, question: Any, choices: Any, answer_index: int | None = None,
             answer_text: Any = None, path: Path | str, line: int | None) -> dict:
    """Validate one normalised example; exactly one of ``answer_index`` / ``answer_text`` identifies the gold."""
    if not isinstance(question, str) or not question.strip():
        raise DataError("question must be a non-empty string", path=path, line=line, field="question")
    if not isinstance(choices, list) or len(choices) < 2:
        raise DataError("choices must be a list of at least two options", path=path, line=line, field="choices")
    if len(choices) > len(LETTERS):
        raise DataError(f"at most {len(LETTERS)} choices are supported", path=path, line=line, field="choices")
    for c in choices:
        if not isinstance(c, str) or not c.strip():
            raise DataError("every choice must be a non-empty string", path=path, line=line, field="choices")
    choices = [c.strip() for c in choices]
    if answer_index is None:
        if not isinstance(answer_text, str) or answer_text.strip() not in choices:
            raise DataError(f"answer {answer_text!r} is not one of the choices", path=path, line=line,
                            field="answer")
        answer_index = choices.index(answer_text.strip())
    if isinstance(answer_index, bool) or not isinstance(answer_index, int) or not 0 <= answer_index < len(choices):
        raise DataError(f"answer index {answer_index!r} out of range for {len(choices)} choices", path=path,
                        line=line, field="answer_index")
    return {"id": str(id), "dataset": dataset, "split": split, "question": question.strip(), "choices": choices,
            "answer_index": answer_index, "answer_text": choices[answer_index]}


def _text(rec: dict, key: str, path: Path, line: int) -> str:
    """A required non-empty string field."""
    v = _get(rec, key, path, line)
    if not isinstance(v, str) or not v.strip():
        raise DataError(f"expected a non-empty string, got {type(v).__name__} {v!r:.40}", path=path, line=line,
                        field=key)
    return v


def _is_wrapper(doc: dict) -> bool:
    """``{"questions": [records]}`` (unwrapped by ``iter_raw``), as opposed to one record on its own (whose list
    fields, like ``choices``, hold no objects)."""
    lists = [v for v in doc.values() if isinstance(v, list)]
    if len(lists) != 1:
        return False
    return all(isinstance(x, dict) for x in lists[0]) if lists[0] else len(doc) == 1


def _records(path: Path) -> Iterator[tuple[int, Any]]:
    """``(line, record)`` from a json list or jsonl file. TinyLLM's OBQA ``.json`` files are JSON lines.

    A line that cannot be read (invalid UTF-8, malformed JSON, NaN) comes as ``(line, DataError)``: the caller
    raises it or, under ``on_error="skip"``, counts it (see :func:`_obj`)."""
    if path.suffix.lower() == ".json" and path.is_file():
        # decoded leniently only to tell JSON lines from one document; each reader below checks the bytes
        text = path.read_bytes().decode("utf-8", errors="replace")
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            if e.msg == "Extra data":  # several top-level values: JSON lines despite the suffix
                yield from _jsonl_lines(path)
                return
            read_utf8(path)  # invalid UTF-8 is the better message when there is some
            raise DataError(f"malformed JSON ({e})", path=path, line=e.lineno) from None
        if isinstance(doc, dict) and not _is_wrapper(doc):  # JSON lines with a single line: one record
            yield from _jsonl_lines(path)
            return
    yield from iter_raw(path)


def _jsonl_lines(path: Path) -> Iterator[tuple[int, Any]]:
    for i, raw in enumerate(path.read_bytes().splitlines(), start=1):  # \n, \r\n or \r, as text mode reads
        if raw.strip():
            yield i, parse_json_line(raw, path, i)


def _obj(rec: Any, path: Path, line: int) -> dict:
    if isinstance(rec, DataError):  # a line that could not be read
        raise rec
    if not isinstance(rec, dict):
        raise DataError(f"expected a JSON object, got {type(rec).__name__}", path=path, line=line)
    return rec


def _get(rec: dict, key: str, path: Path, line: int) -> Any:
    if key not in rec or rec[key] is None:
        raise DataError("missing required field", path=path, line=line, field=key)
    return rec[key]


def _parse_tinyllm(rec: dict, path: Path, line: int, ds: str, split: str) -> dict:
    """TinyLLM release files: ``{id?, question, choices: [str], answer: <choice text>}``."""
    return _example(id=rec.get("id", f"{ds}-{split}-{line}"), dataset=ds, split=split,
                    question=_get(rec, "question", path, line), choices=_get(rec, "choices", path, line),
                    answer_text=_get(rec, "answer", path, line), path=path, line=line)


def _parse_ai2(rec: dict, path: Path, line: int, ds: str, split: str) -> dict:
    """AI2 OpenBookQA / ARC jsonl: ``{id, question: {stem, choices: [{text, label}]}, answerKey}``."""
    q = _get(rec, "question", path, line)
    if not isinstance(q, dict):
        raise DataError("expected an object with 'stem' and 'choices'", path=path, line=line, field="question")
    raw = _get(q, "choices", path, line)
    if not isinstance(raw, list) or not all(isinstance(c, dict) and "text" in c and "label" in c for c in raw):
        raise DataError("expected a list of {text, label}", path=path, line=line, field="question.choices")
    labels = [str(c["label"]) for c in raw]
    key = str(_get(rec, "answerKey", path, line))
    if key not in labels:
        raise DataError(f"answerKey {key!r} is not among the labels {labels}", path=path, line=line,
                        field="answerKey")
    return _example(id=rec.get("id", f"{ds}-{split}-{line}"), dataset=ds, split=split,
                    question=_get(q, "stem", path, line), choices=[c["text"] for c in raw],
                    answer_index=labels.index(key), path=path, line=line)


_ADAPTER_Q = re.compile(r"question:\s*(.*?)\n\n(Answer1:.*?)\n\nAnswer format", re.S)
_ADAPTER_OPT = re.compile(r"Answer(\d+):\s*(.*?)(?=\s*Answer\d+:|\Z)", re.S)


def _parse_arc_llm_adapters(rec: dict, path: Path, line: int, ds: str, split: str) -> dict:
    """LLM-Adapters' instruction-formatted ARC: options folded as ``Answer1: ... Answer2: ...``, answer ``answerN``."""
    m = _ADAPTER_Q.search(_text(rec, "instruction", path, line))
    if m is None:
        raise DataError("cannot find 'question: ... Answer1: ... Answer format'", path=path, line=line,
                        field="instruction")
    opts = [(int(n), t.strip()) for n, t in _ADAPTER_OPT.findall(m.group(2))]
    if [n for n, _ in opts] != list(range(1, len(opts) + 1)):
        raise DataError("options are not numbered Answer1..AnswerN", path=path, line=line, field="instruction")
    ans = str(_get(rec, "answer", path, line)).strip().lower()
    if not re.fullmatch(r"answer\d+", ans):
        raise DataError(f"expected 'answerN', got {ans!r}", path=path, line=line, field="answer")
    return _example(id=rec.get("id", f"{ds}-{split}-{line}"), dataset=ds, split=split, question=m.group(1),
                    choices=[t for _, t in opts], answer_index=int(ans[6:]) - 1, path=path, line=line)


def _parse_generic(rec: dict, path: Path, line: int, ds: str, split: str) -> dict:
    """Any jsonl with ``question``, ``choices`` and one of ``answer_index`` / ``answer`` (text) / ``answerKey``."""
    choices = _get(rec, "choices", path, line)
    kw: dict[str, Any] = {}
    if rec.get("answer_index") is not None:
        kw["answer_index"] = rec["answer_index"]
    elif rec.get("answer") is not None:
        kw["answer_text"] = rec["answer"]
    elif rec.get("answerKey") is not None:
        key = str(rec["answerKey"]).strip().lower()
        if len(key) != 1 or key not in LETTERS:
            raise DataError(f"answerKey {key!r} is not a letter", path=path, line=line, field="answerKey")
        kw["answer_index"] = LETTERS.index(key)
    else:
        raise DataError("needs one of answer_index, answer, answerKey", path=path, line=line, field="answer")
    return _example(id=rec.get("id", rec.get("idx", f"{ds}-{split}-{line}")), dataset=ds, split=split,
                    question=_get(rec, "question", path, line), choices=choices, path=path, line=line, **kw)


_ROW_PARSERS = {"tinyllm": _parse_tinyllm, "ai2": _parse_ai2, "arc_llm_adapters": _parse_arc_llm_adapters,
                "jsonl": _parse_generic}


def _collect(rows: Iterable[tuple[int, Any]], parse, path: Path, ds: str, split: str, on_error: OnError,
             skips: SkipCounter) -> list[dict]:
    out = []
    for line, rec in rows:
        with skips.guard(on_error):
            out.append(parse(_obj(rec, path, line), path, line, ds, split))
    return out


def load_piqa(path: str | Path, labels: str | Path, *, dataset: str = "piqa", split: str = "all",
              on_error: OnError = "raise") -> list[dict]:
    """PIQA: ``{goal, sol1, sol2}`` jsonl; line i of the labels file (0/1) is the answer of line i."""
    path, labels = resolve_path(path), resolve_path(labels)
    label_lines = [s.strip() for s in read_utf8(labels).splitlines() if s.strip()]
    rows = list(_records(path))
    if len(label_lines) != len(rows):
        raise DataError(f"{len(label_lines)} labels for {len(rows)} questions in {path}", path=labels, field="label")
    skips, out = SkipCounter("PIQA questions"), []
    for (line, rec), lab in zip(rows, label_lines):
        with skips.guard(on_error):
            rec = _obj(rec, path, line)
            if lab not in ("0", "1"):
                raise DataError(f"label {lab!r} is not 0 or 1", path=labels, line=line, field="label")
            out.append(_example(id=rec.get("id", f"{dataset}-{line}"), dataset=dataset, split=split,
                                question=_get(rec, "goal", path, line),
                                choices=[_get(rec, "sol1", path, line), _get(rec, "sol2", path, line)],
                                answer_index=int(lab), path=path, line=line))
    skips.report(str(path))
    return out


def _context_question(contexts: list[str], question: str, include_context: bool) -> str:
    # TinyLLM's biomedical files put the evidence first, joined by " \n ", then the question.
    return " \n ".join([*contexts, question]) if include_context and contexts else question


def load_pubmedqa(path: str | Path, *, dataset: str = "pubmedqa", include_context: bool = True,
                  on_error: OnError = "raise") -> list[dict]:
    """PubMedQA PQA-L ``ori_pqal.json`` (PMID -> {QUESTION, CONTEXTS, final_decision}); choices yes/no/maybe."""
    path = resolve_path(path)
    data = load_json_document(path)
    if not isinstance(data, dict):
        raise DataError("expected an object keyed by PMID", path=path, line=1)
    choices, skips, out = ["yes", "no", "maybe"], SkipCounter("PubMedQA questions"), []
    for n, (pmid, rec) in enumerate(data.items(), start=1):
        with skips.guard(on_error):
            rec = _obj(rec, path, n)
            ctx = rec.get("CONTEXTS") or []
            if isinstance(ctx, str) and ctx.startswith("["):  # some dumps store the list as its Python repr
                try:
                    ctx = ast.literal_eval(ctx)
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as e:
                    raise DataError(f"not a list literal ({type(e).__name__})", path=path, line=n,
                                    field="CONTEXTS") from None
            elif isinstance(ctx, str):
                ctx = [ctx]
            if not isinstance(ctx, list) or not all(isinstance(c, str) for c in ctx):
                raise DataError("expected a list of strings", path=path, line=n, field="CONTEXTS")
            q = _context_question(ctx, _text(rec, "QUESTION", path, n), include_context)
            out.append(_example(id=pmid, dataset=dataset, split="all", question=q, choices=choices,
                                answer_text=_get(rec, "final_decision", path, n), path=path, line=n))
    skips.report(str(path))
    return out


def load_bioasq(path: str | Path, *, dataset: str = "bioasq", split: str = "all", include_context: bool = True,
                on_error: OnError = "raise") -> list[dict]:
    """BioASQ Task B json (``{"questions": [{id, body, type, exact_answer, snippets}]}``): yes/no questions.

    Questions of other types (factoid, list, summary) are not multiple choice; they are counted and skipped.
    Files already in TinyLLM's ``{question, choices, answer}`` shape are read by the ``tinyllm`` format instead.
    """
    path = resolve_path(path)
    rows = [(line, rec) for line, rec in _records(path)]
    skips, other, out = SkipCounter("BioASQ questions"), 0, []
    for line, rec in rows:
        with skips.guard(on_error):
            rec = _obj(rec, path, line)
            if rec.get("type", "yesno") != "yesno":
                other += 1
                continue
            ans = _get(rec, "exact_answer", path, line)
            ans = (ans[0] if isinstance(ans, list) and ans else ans)
            ans = ans.strip().lower() if isinstance(ans, str) else ans
            snippets = rec.get("snippets") or []
            if not isinstance(snippets, list) or not all(isinstance(s, dict) and isinstance(s.get("text"), str)
                                                         for s in snippets):
                raise DataError("expected a list of snippet objects, each with a 'text' string", path=path,
                                line=line, field="snippets")
            snippets = [s["text"] for s in snippets]
            out.append(_example(id=rec.get("id", f"{dataset}-{line}"), dataset=dataset, split=split,
                                question=_context_question(snippets, _text(rec, "body", path, line), include_context),
                                choices=["yes", "no"], answer_text=ans, path=path, line=line))
    if other:
        log.info("%s: %d non-yes/no questions left out (not multiple choice)", path, other)
    skips.report(str(path))
    return out


def load_mcqa_file(path: str | Path, fmt: Format, *, dataset: str, split: str = "all",
                   on_error: OnError = "raise", labels: str | Path | None = None,
                   include_context: bool = True) -> list[dict]:
    """Read one file of format ``fmt`` into normalised examples (see the module docstring)."""
    p = resolve_path(path)
    if not p.is_file():
        raise DataError("file not found", path=p)
    if fmt == "piqa":
        if labels is None:
            raise DataError("PIQA needs its labels file (`labels`)", path=p, field="labels")
        return load_piqa(p, labels, dataset=dataset, split=split, on_error=on_error)
    if fmt == "pubmedqa":
        return load_pubmedqa(p, dataset=dataset, include_context=include_context, on_error=on_error)
    if fmt == "bioasq":
        return load_bioasq(p, dataset=dataset, split=split, include_context=include_context, on_error=on_error)
    if fmt not in _ROW_PARSERS:
        raise ValueError(f"unknown MCQA format {fmt!r}; one of {sorted([*_ROW_PARSERS, 'piqa', 'pubmedqa', 'bioasq'])}")
    skips = SkipCounter(f"{dataset} questions")
    out = _collect(_records(p), _ROW_PARSERS[fmt], p, dataset, split, on_error, skips)
    skips.report(str(p))
    return out


def seeded_split(examples: list[dict], fractions: tuple[float, float, float], seed: int,
                 fixed_test_ids: set[str] | None = None) -> dict[str, list[dict]]:
    """Split into train/val/test with a seeded shuffle (independent of file order: sorted by id first).

    ``fixed_test_ids`` (PubMedQA's official test PMIDs) go to test; the rest is split by
    ``fractions[0] : fractions[1]`` into train/val.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split_fractions must be three non-negative numbers summing to 1, got {fractions}")
    ordered = sorted(examples, key=lambda e: e["id"])
    if fixed_test_ids is not None:
        test = [e for e in ordered if e["id"] in fixed_test_ids]
        rest = [e for e in ordered if e["id"] not in fixed_test_ids]
        random.Random(seed).shuffle(rest)
        n_train = round(len(rest) * fractions[0] / max(fractions[0] + fractions[1], 1e-12))
        parts = {"train": rest[:n_train], "val": rest[n_train:], "test": test}
    else:
        random.Random(seed).shuffle(ordered)
        n_train, n_val = round(len(ordered) * fractions[0]), round(len(ordered) * fractions[1])
        parts = {"train": ordered[:n_train], "val": ordered[n_train:n_train + n_val],
                 "test": ordered[n_train + n_val:]}
    return {s: [{**e, "split": s} for e in part] for s, part in parts.items()}


@dataclass
class MCQASource:
    """One multiple-choice dataset: either ready splits (``train``/``val``/``test``) or one ``path`` to split.

    Args:
        name: dataset name (metrics are reported per name; pre-collected teachers look it up).
        format: file format: ``tinyllm`` (TinyLLM release), ``ai2`` (OpenBookQA/ARC jsonl),
            ``arc_llm_adapters``, ``piqa`` (+ ``labels``), ``pubmedqa``, ``bioasq``, ``jsonl`` (generic).
        train, val, test: split files. ``samples:<rel>`` points into the bundled samples.
        path: a single labelled file split with ``split_fractions`` and ``split_seed`` (PIQA, PubMedQA, ...).
        labels: PIQA's labels file.
        test_ids: a json object/list whose keys/items are the ids reserved for test (PubMedQA's official split).
        max_train, max_eval: keep the first N examples of train / of val and test (after splitting).
        include_context: PubMedQA/BioASQ: prepend the abstract contexts/snippets to the question.
    """

    name: str
    format: Format = "tinyllm"
    train: str | None = None
    val: str | None = None
    test: str | None = None
    path: str | None = None
    labels: str | None = None
    test_ids: str | None = None
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    split_seed: int = 0
    max_train: int | None = None
    max_eval: int | None = None
    include_context: bool = True

    def load(self, on_error: OnError = "raise") -> dict[str, list[dict]]:
        """``{"train": [...], "val": [...], "test": [...]}`` of normalised examples."""
        kw = dict(dataset=self.name, on_error=on_error, labels=self.labels, include_context=self.include_context)
        if self.path is not None:
            if any(x is not None for x in (self.train, self.val, self.test)):
                raise ValueError(f"dataset {self.name!r}: set either `path` or `train`/`val`/`test`, not both")
            ids = None
            if self.test_ids is not None:
                ids_path = resolve_path(self.test_ids)
                raw = load_json_document(ids_path)
                if not isinstance(raw, (dict, list)):
                    raise DataError("expected an object or a list of test ids", path=ids_path, line=1,
                                    field="test_ids")
                ids = {str(k) for k in raw}
            splits = seeded_split(load_mcqa_file(self.path, self.format, **kw), tuple(self.split_fractions),
                                  self.split_seed, ids)
        else:
            if self.train is None:
                raise ValueError(f"dataset {self.name!r}: set `train` (and `val`/`test`) or `path`")
            splits = {s: (load_mcqa_file(f, self.format, split=s, **kw) if f else [])
                      for s, f in (("train", self.train), ("val", self.val), ("test", self.test))}
        for s, cap in (("train", self.max_train), ("val", self.max_eval), ("test", self.max_eval)):
            if cap is not None:
                splits[s] = splits[s][:cap]
        return splits
