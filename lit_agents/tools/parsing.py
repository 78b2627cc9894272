"""Parsing the ToolRL output format: ``<think>…</think>`` then ``<tool_call>`` (one JSON object per line,
``{"name": str, "parameters": {...}}``) and/or ``<response>…</response>``; ``<obs>`` turns carry tool results."""
from __future__ import annotations

import json
import re
from typing import Any

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
RESPONSE_OPEN, RESPONSE_CLOSE = "<response>", "</response>"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def tool_call_block(text: str) -> str | None:
    """The text between the first ``<tool_call>`` and the next ``</tool_call>`` (stripped), or None when
    either tag is missing. As released, the split is on the first opening tag of the whole text."""
    if CALL_OPEN not in text or CALL_CLOSE not in text:
        return None
    return text.split(CALL_OPEN)[1].split(CALL_CLOSE)[0].strip()


def parse_call_lines(block: str) -> list[Any]:
    """``json.loads`` of each line of a tool-call block (raises ``ValueError`` on any bad line, a blank one
    included, as the released scorer does). Values are returned as decoded, not validated."""
    return [json.loads(line) for line in block.split("\n")]


def parse_tool_calls(block: str) -> list[dict]:
    """Validated tool calls of a block: each an object with a string ``name`` and an object ``parameters``
    (missing ``parameters`` = ``{}``); raises ``ValueError`` naming the bad call."""
    calls = parse_call_lines(block)
    for c in calls:
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) \
                or not isinstance(c.get("parameters", {}), dict):
            raise ValueError(f"tool call must be an object with a string 'name' and object 'parameters', got {c!r}")
        c.setdefault("parameters", {})
    return calls


def extract_tool_calls(text: str) -> list[dict] | None:
    """The tool calls of a model turn (searched after ``</think>``, since reasoning may mention the tags), or
    None when the turn has no complete, valid ``<tool_call>`` block."""
    tail = text.split(THINK_CLOSE, 1)[1] if THINK_CLOSE in text else text
    block = tool_call_block(tail)
    if block is None:
        return None
    try:
        return parse_tool_calls(block)
    except ValueError:
        return None


def extract_response(text: str) -> str | None:
    """The content of the last ``<response>…</response>`` after ``</think>`` (stripped), or None."""
    tail = text.split(THINK_CLOSE, 1)[1] if THINK_CLOSE in text else text
    found = re.findall(re.escape(RESPONSE_OPEN) + r"(.*?)" + re.escape(RESPONSE_CLOSE), tail, re.DOTALL)
    return found[-1].strip() if found else None


def think_text(text: str) -> str | None:
    """The last ``<think>`` block's content (as the released length reward reads it), or None."""
    if THINK_OPEN not in text or THINK_CLOSE not in text:
        return None
    return text.split(THINK_OPEN)[-1].split(THINK_CLOSE)[0].strip()


def render_tool_calls(calls: list[dict]) -> str:
    """``<tool_call>\\n{json}\\n…\\n</tool_call>`` (one compact-spaced JSON object per line, as in rlla)."""
    return CALL_OPEN + "\n" + "\n".join(json.dumps(c, ensure_ascii=False) for c in calls) + "\n" + CALL_CLOSE


def render_observation(results: list[dict]) -> str:
    """An ``<obs>`` turn as in the rlla dialogue histories: ``<obs> [{"name": …, "results": …}] </obs>``."""
    return "<obs> " + json.dumps(results, ensure_ascii=False, default=str) + " </obs>"
