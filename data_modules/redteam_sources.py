"""Red-team prompt sets for IterAlign, read from their published formats.

Supported formats (``RedTeamSource.format``):

- ``hh``: Anthropic hh-rlhf transcripts, ``"\\n\\nHuman: ...\\n\\nAssistant: ..."``, one JSON object per line
  (``.jsonl`` or ``.jsonl.gz``) with a ``transcript`` field (red-team-attempts) or ``chosen`` field
  (harmless-base pairs); a ``.json`` array of such objects is accepted too (red_team_attempts.jsonl is one).
- ``nested``: ``{topic: {subtopic: [questions]}}`` (HarmfulQA and CategoricalHarmfulQA of declare-lab/red-instruct).
- ``list``: a JSON list of question strings (DangerousQA ``toxic_outs.json``, AdversarialQA).
- ``records``: json / jsonl / csv records with a question column (e.g. a local export of the hub HarmfulQA).

Every question becomes a record ``{uid, source, category, question, prompt}``; ``prompt`` is what the policy
sees: the hh dialogue format (``framing="hh"``), the Chain-of-Utterances red-teaming template of Bhardwaj &
Poria 2023 (``framing="cou"``), or the bare question (``framing="plain"``).
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from data_modules.io import read_records, samples_dir
from lit_agents.fileio import DataError, decode_utf8, read_utf8
from lit_agents.prompts import load_prompt

HH_TEMPLATE = "\n\nHuman: {question}\n\nAssistant:"
_TURN = re.compile(r"\n\n(Human|Assistant):")


@dataclass
class RedTeamSource:
    """One red-team prompt file.

    Args:
        path: the file; a relative path that does not exist is looked up in ``data_modules/samples/``.
        format: ``hh`` | ``nested`` | ``list`` | ``records`` (see the module docstring).
        framing: how a question is shown to the policy: ``hh`` (``prompt_template``), ``cou`` (Chain of
            Utterances, ``cou_template``) or ``plain``. For ``hh`` files with ``hh_context="dialogue"`` the
            transcript's own dialogue prefix is used as it is.
        name: the source name recorded on each prompt (defaults to the file stem).
        limit: keep only the first ``limit`` questions of this file (after parsing, before shuffling).
        hh_context: ``first_turn`` (the opening human request, the red-team attempt) or ``dialogue`` (the whole
            conversation up to the last assistant turn).
        question_field: the column holding the question for ``records`` files.
        category_field: an optional category column for ``records`` files.
        prompt_template: the hh-style template with a ``{question}`` slot.
        cou_template: a prompt name in ``lit_agents/prompts`` or a file path; ``{question}`` or ``<question>``
            marks the slot (the latter is the red-instruct repository's own ``red_prompts/cou.txt``).
    """

    path: str
    format: Literal["hh", "nested", "list", "records"] = "list"
    framing: Literal["hh", "cou", "plain"] = "hh"
    name: str | None = None
    limit: int | None = None
    hh_context: Literal["first_turn", "dialogue"] = "first_turn"
    question_field: str = "question"
    category_field: str | None = None
    prompt_template: str = HH_TEMPLATE
    cou_template: str = "iteralign_cou"


def resolve_path(path: str | Path) -> Path:
    """``path`` itself when it exists, else the same relative path under the bundled samples."""
    p = Path(path).expanduser()
    if p.exists():
        return p
    q = samples_dir() / path
    if not p.is_absolute() and q.exists():
        return q
    raise DataError("file not found (also looked in data_modules/samples/)", path=p)


def split_hh(transcript: str, *, path: Path | None = None, line: int | None = None,
             field: str = "transcript") -> list[tuple[str, str]]:
    """``"\\n\\nHuman: a\\n\\nAssistant: b"`` -> ``[("Human", "a"), ("Assistant", "b")]``."""
    text = transcript if transcript.startswith("\n\n") else "\n\n" + transcript.lstrip("\n")
    marks = list(_TURN.finditer(text))
    if not marks or marks[0].start() != 0 or marks[0].group(1) != "Human":
        raise DataError("not an hh transcript: expected it to start with 'Human:'", path=path, line=line, field=field)
    turns = []
    for m, nxt in zip(marks, marks[1:] + [None]):
        turns.append((m.group(1), text[m.end():nxt.start() if nxt else len(text)].strip()))
    return turns


def _read_json_value(path: Path):
    try:
        return json.loads(read_utf8(path))
    except json.JSONDecodeError as e:
        raise DataError(f"malformed JSON ({e.msg})", path=path, line=e.lineno) from None


def _iter_hh(path: Path):
    """Yield ``(line, object)`` from .jsonl, .jsonl.gz or a .json array."""
    if path.suffix == ".json":
        data = _read_json_value(path)
        if not isinstance(data, list):
            raise DataError(f"expected a JSON list of transcripts, got {type(data).__name__}", path=path, line=1)
        yield from enumerate(data, start=1)
        return
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        try:
            raw = f.read()
        except OSError as e:
            raise DataError(f"cannot read ({e})", path=path) from None
    lines = decode_utf8(raw, path).splitlines(keepends=True)
    if len(lines) and lines[0].lstrip().startswith("["):  # red_team_attempts.jsonl is really one JSON array
        try:
            yield from enumerate(json.loads("".join(lines)), start=1)
        except json.JSONDecodeError as e:
            raise DataError(f"malformed JSON ({e.msg})", path=path, line=e.lineno) from None
        return
    for i, raw in enumerate(lines, start=1):
        if raw.strip():
            try:
                yield i, json.loads(raw)
            except json.JSONDecodeError as e:
                raise DataError(f"malformed JSON ({e.msg})", path=path, line=i) from None


def _hh_questions(src: RedTeamSource, path: Path) -> list[tuple[str, str, str | None]]:
    """(question, category, dialogue prefix) per transcript."""
    out = []
    for line, obj in _iter_hh(path):
        if not isinstance(obj, dict):
            raise DataError(f"expected an object, got {type(obj).__name__}", path=path, line=line)
        field = next((f for f in ("transcript", "chosen") if isinstance(obj.get(f), str)), None)
        if field is None:
            raise DataError("missing a 'transcript' or 'chosen' string", path=path, line=line, field="transcript")
        turns = split_hh(obj[field], path=path, line=line, field=field)
        question = turns[0][1]
        if not question:
            raise DataError("empty first human turn", path=path, line=line, field=field)
        last_asst = max((i for i, (role, _) in enumerate(turns) if role == "Assistant"), default=len(turns))
        dialogue = "".join(f"\n\n{role}: {text}" for role, text in turns[:last_asst]) + "\n\nAssistant:"
        out.append((question, str(obj.get("task_description") or "hh-rlhf"), dialogue))
    return out


def _nested_questions(path: Path) -> list[tuple[str, str, None]]:
    data = _read_json_value(path)
    if not isinstance(data, dict):
        raise DataError(f"expected {{topic: {{subtopic: [questions]}}}}, got {type(data).__name__}", path=path,
                        line=1)
    out = []
    for topic, subs in data.items():
        if not isinstance(subs, dict):
            raise DataError("expected an object of subtopics", path=path, field=topic)
        for sub, qs in subs.items():
            if not isinstance(qs, list) or not all(isinstance(q, str) and q.strip() for q in qs):
                raise DataError("expected a list of non-empty question strings", path=path, field=f"{topic}/{sub}")
            out.extend((q.strip(), f"{topic}/{sub.rstrip(':')}", None) for q in qs)
    return out


def _list_questions(path: Path) -> list[tuple[str, str, None]]:
    data = _read_json_value(path)
    if not isinstance(data, list):
        raise DataError(f"expected a JSON list of questions, got {type(data).__name__}", path=path, line=1)
    out = []
    for i, q in enumerate(data, start=1):
        if not isinstance(q, str) or not q.strip():
            raise DataError(f"item {i}: expected a non-empty question string", path=path, line=i)
        out.append((q.strip(), path.stem, None))
    return out


def frame(question: str, src: RedTeamSource, dialogue: str | None = None) -> str:
    """The text the policy answers (see ``RedTeamSource.framing``)."""
    if src.framing == "plain":
        return question
    if src.framing == "cou":
        tpl = load_prompt(src.cou_template)
        if "{question}" not in tpl and "<question>" not in tpl:
            raise DataError("CoU template has no {question} or <question> slot", path=src.cou_template)
        return tpl.replace("<question>", question).replace("{question}", question).rstrip("\n")
    if src.hh_context == "dialogue" and dialogue is not None:
        return dialogue
    if "{question}" not in src.prompt_template:
        raise DataError("prompt_template has no {question} slot", field="prompt_template")
    return src.prompt_template.replace("{question}", question)


def load_source(src: RedTeamSource) -> list[dict]:
    """Parse one red-team file into prompt records (see the module docstring)."""
    path = resolve_path(src.path)
    name = src.name or path.name.split(".")[0]
    if src.format == "hh":
        items = _hh_questions(src, path)
    elif src.format == "nested":
        items = _nested_questions(path)
    elif src.format == "list":
        items = _list_questions(path)
    elif src.format == "records":
        req = {src.question_field: str}
        recs = read_records(str(path), required=req, name="red-team questions")
        items = [(r[src.question_field].strip(), str(r.get(src.category_field, name)) if src.category_field
                  else name, None) for r in recs]
    else:
        raise DataError(f"unknown red-team format {src.format!r} (hh, nested, list, records)", path=path,
                        field="format")
    if src.limit is not None:
        items = items[: src.limit]
    if not items:
        raise DataError("no red-team questions found", path=path)
    return [{"uid": f"{name}:{i}", "source": name, "category": cat, "question": q, "prompt": frame(q, src, dlg)}
            for i, (q, cat, dlg) in enumerate(items)]
