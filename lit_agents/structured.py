"""Structured (JSON) answers from any :class:`~lit_agents.generation.TextGenerator`, with bounded repair.

:func:`extract_json` pulls the last JSON object out of a completion (code fences, prose around it, trailing
commas and Python-style quotes/literals tolerated). :class:`JSONCaller` sends a batch of prompts, validates
each parsed answer and, for those that fail, sends up to ``max_repairs`` repair prompts (the error and the bad
answer, asking for valid JSON). Every failed parse is counted in :class:`ParseStats`; an answer still invalid
after the last repair is ``None`` and counted as ``unrecovered``.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from lit_agents.generation import TextGenerator
from lit_agents.prompts import load_prompt

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


@dataclass
class ParseStats:
    """Counters of one run: LLM calls, failed parses, repair prompts sent, answers given up on."""

    calls: int = 0
    parse_failures: int = 0
    repairs: int = 0
    unrecovered: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


_DECODER = json.JSONDecoder()


def _objects(text: str) -> list[tuple[int, int, dict]]:
    """Every JSON object that decodes from some ``{`` of ``text``: ``(start, end, object)``."""
    found = []
    for i, ch in enumerate(text):
        if ch == "{":
            try:
                obj, end = _DECODER.raw_decode(text, i)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                found.append((i, end, obj))
    return found


def _pythonish(text: str) -> str:
    """Single quotes and Python literals as JSON (a common small-model slip)."""
    text = text.replace("'", '"')
    return re.sub(r"\bTrue\b", "true", re.sub(r"\bFalse\b", "false", re.sub(r"\bNone\b", "null", text)))


def extract_json(text: str) -> dict[str, Any]:
    """The last top-level JSON object in ``text`` (inside a code fence when there is one); trailing commas and
    Python-style quotes/literals are repaired. ``ValueError`` when there is none."""
    fenced = _FENCE.findall(text)
    for source in ([fenced[-1]] if fenced else []) + [text]:
        best: tuple[int, dict] | None = None  # (start, object) of the last top-level object over the variants
        for variant in (source, _TRAILING_COMMA.sub(r"\1", source), _pythonish(_TRAILING_COMMA.sub(r"\1", source))):
            found = _objects(variant)
            top = [f for f in found if not any(g[0] < f[0] and f[1] <= g[1] for g in found)]
            if top and (best is None or top[-1][0] > best[0]):
                best = (top[-1][0], top[-1][2])
        if best is not None:
            return best[1]
    raise ValueError("no valid JSON object in the answer" if "{" in text else "no JSON object in the answer")


class JSONCaller:
    """Batched JSON calls with bounded repair; identical prompts in a batch are sent once."""

    def __init__(self, generator: TextGenerator, *, max_repairs: int = 2, stats: ParseStats | None = None,
                 repair_prompt: str = "decisionflow_repair"):
        if max_repairs < 0:
            raise ValueError(f"max_repairs must be >= 0, got {max_repairs}")
        self.generator, self.max_repairs = generator, max_repairs
        self.stats = stats or ParseStats()
        self.repair_template = load_prompt(repair_prompt)

    def text(self, prompts: Sequence[str], **sampling: Any) -> list[str]:
        """Plain completions (deduplicated), counted as calls."""
        unique = list(dict.fromkeys(prompts))
        self.stats.calls += len(unique)
        outs = dict(zip(unique, self.generator.generate(unique, **sampling)))
        return [outs[p] for p in prompts]

    def json(self, prompts: Sequence[str], *, shape: str, validate: Callable[[dict, int], Any] = lambda d, i: d,
             **sampling: Any) -> tuple[list[Any], list[str]]:
        """``(parsed, raw)``: ``validate(extract_json(answer), index)`` per prompt (None when never valid) and the
        last raw answer. ``validate`` raises ``ValueError`` to reject an answer (it then gets a repair prompt)."""
        prompts = list(prompts)
        first = {p: i for i, p in reversed(list(enumerate(prompts)))}  # identical prompts are parsed once
        unique = list(first)
        raw_u = self.text(unique, **sampling)
        parsed_u: list[Any] = [None] * len(unique)
        pending = list(range(len(unique)))
        for attempt in range(self.max_repairs + 1):
            failed: list[tuple[int, str]] = []
            for u in pending:
                try:
                    parsed_u[u] = validate(extract_json(raw_u[u]), first[unique[u]])
                except (ValueError, TypeError, KeyError) as e:
                    self.stats.parse_failures += 1
                    failed.append((u, str(e)[:200]))
            if not failed or attempt == self.max_repairs:
                self.stats.unrecovered += len(failed)
                break
            repairs = [self.repair_template.format(error=err, output=raw_u[u][-1500:], shape=shape)
                       for u, err in failed]
            self.stats.repairs += len(repairs)
            for (u, _), out in zip(failed, self.text(repairs, **sampling)):
                raw_u[u] = out
            pending = [u for u, _ in failed]
        index = {p: u for u, p in enumerate(unique)}
        parsed = [parsed_u[index[p]] for p in prompts]
        raw = [raw_u[index[p]] for p in prompts]
        return parsed, raw
