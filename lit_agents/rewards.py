"""Verifiable rewards for GRPO.

Batch reward functions follow the TRL contract ``fn(completions, **batch_fields) -> list[float | None]``:
``completions`` are strings (or chat message lists, whose last message's content is used) and every other
column of the batch arrives as a keyword argument repeated once per completion. ``None`` abstains.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any, Sequence

_VERDICT = "<answer>[[{}]]</answer>"
_LABEL_ALIASES = {"a": "A", "b": "B", "model_a": "A", "model_b": "B", "response_a": "A", "response_b": "B"}


def completion_text(completion: Any) -> str:
    """The text of a completion given as a string or as a list of chat messages (last message's content)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, (list, tuple)) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    raise TypeError(f"completion must be a str or a list of chat messages, got {type(completion).__name__}")


def normalise_label(label: str) -> str:
    """Map ``"A"``/``"B"`` (or the released code's ``model_a``/``model_b``) to ``"A"``/``"B"``."""
    key = str(label).strip().lower()
    if key not in _LABEL_ALIASES:
        raise ValueError(f"label must be 'A' or 'B' (or model_a/model_b), got {label!r}")
    return _LABEL_ALIASES[key]


def judgment_reward(completion: str, label: str) -> float:
    """RM-R1's verifiable reward, exactly as released (``lm_as_judge_match``).

    Only the last 80 characters are inspected; +1 iff ``<answer>[[label]]</answer>`` is there and the other
    verdict is not, else −1 (wrong, both, none or unparseable all score −1).
    """
    gold = normalise_label(label)
    other = "B" if gold == "A" else "A"
    tail = completion[-80:]
    return 1.0 if _VERDICT.format(gold) in tail and _VERDICT.format(other) not in tail else -1.0


def parse_verdict(completion: str) -> str | None:
    """The verdict in the last 80 characters: ``"A"``, ``"B"``, or ``None`` when neither or both appear."""
    tail = completion[-80:]
    has_a, has_b = _VERDICT.format("A") in tail, _VERDICT.format("B") in tail
    if has_a == has_b:
        return None
    return "A" if has_a else "B"


def judgment_rewards(completions: Sequence[Any], label: Sequence[str], **_: Any) -> list[float]:
    """Batch adapter of :func:`judgment_reward` for GRPO (``label`` is the batch column)."""
    return [judgment_reward(completion_text(c), lab) for c, lab in zip(completions, label, strict=True)]


def _lcs(a: str, b: str) -> int:
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b):
            cur.append(prev[j] + 1 if ca == cb else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def verdict_format_rewards(completions: Sequence[Any], **_: Any) -> list[float]:
    """Dense shaping reward in [0, 1]: how much of a well-formed verdict the last 80 characters spell.

    ``max_X LCS(tail, "<answer>[[X]]</answer>") / len(verdict)`` (longest common subsequence). Label-blind:
    it rewards the *format*, not the judgment. Not in the paper (whose policy is distilled first, so it
    already writes verdicts); we add it only to the tiny from-scratch default so the reward can rise there.
    """
    out = []
    for c in completions:
        tail = completion_text(c)[-80:]
        out.append(max(_lcs(tail, _VERDICT.format(x)) for x in "AB") / len(_VERDICT.format("A")))
    return out


# ---------------------------------------------------------------- ToolRL (Qian et al. 2025, released rlla.py)
def _multiset_jaccard(a: list, b: list) -> float:
    """|a ∩ b| / |a ∪ b| counting multiplicity; 1 for equal lists (also both empty), 0 if one is empty."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    ca, cb = Counter(a), Counter(b)
    inter = sum(min(ca[k], cb[k]) for k in ca.keys() & cb.keys())
    return inter / (len(a) + len(b) - inter)


def _parse_tool_calls(block: str) -> list[dict]:
    calls = [json.loads(line) for line in block.strip().split("\n")]
    for c in calls:
        if not isinstance(c, dict) or "name" not in c or not isinstance(c.get("parameters", {}), dict):
            raise ValueError(f"tool call must be an object with 'name' and 'parameters', got {c!r}")
        c.setdefault("parameters", {})
    return calls


def tool_call_score(gold: list[dict], pred: list[dict], max_reward: float = 3.0, min_reward: float = -3.0) -> float:
    """ToolRL correctness in [min_reward, max_reward].

    score = Jaccard(tool names) + Σ_gold-call [Jaccard(param names) + #exactly-equal values] of the best
    unused predicted call with the same name; normalised by ``1 + Σ_gold-call (1 + #params)`` and mapped
    linearly onto [min_reward, max_reward]. An exact match scores ``max_reward``.
    """
    if gold == pred:
        return max_reward
    score = _multiset_jaccard([g["name"] for g in gold], [p["name"] for p in pred])
    max_score = 1.0
    used: set[int] = set()
    for g in gold:
        gp = g["parameters"]
        max_score += 1.0 + len(gp)
        best, best_i = 0.0, -1
        for i, p in enumerate(pred):
            if i in used or p["name"] != g["name"]:
                continue
            pp = p["parameters"]
            s = _multiset_jaccard(list(gp), list(pp)) + sum(1.0 for k, v in gp.items() if k in pp and pp[k] == v)
            if s > best:
                best, best_i = s, i
        if best_i >= 0:
            used.add(best_i)
            score += best
    return (max_reward - min_reward) * score / max_score + min_reward


def tool_format_reward(completion: str, answer: str) -> float:
    """ToolRL format reward ∈ {0, 1}: ``<think>…</think>`` then exactly the blocks the gold answer has
    (``<tool_call>\\n…\\n</tool_call>`` and/or ``<response>…</response>``), in that order, nothing else."""
    text = completion.strip()
    want_call, want_resp = "<tool_call>" in answer, "<response>" in answer
    pattern = r"^<think>.*?</think>"
    if want_call:
        pattern += r"\n<tool_call>\n.*?\n</tool_call>"
    if want_resp:
        pattern += r"\n<response>.*?</response>"
    if not re.search(pattern + "$", text, re.DOTALL):
        return 0.0
    for tag, wanted in (("tool_call", want_call), ("response", want_resp)):
        if wanted and (text.count(f"<{tag}>") != 1 or text.count(f"</{tag}>") != 1):
            return 0.0
    return 1.0


def tool_correctness_reward(completion: str, answer: str) -> float:
    """ToolRL correctness ∈ [−3, 3]: 0 when the gold answer has no tool call; −3 when the completion's
    ``<tool_call>`` block is missing or not one JSON object per line; else :func:`tool_call_score`."""
    if "<tool_call>" not in answer:
        return 0.0
    gold = _parse_tool_calls(answer.split("<tool_call>")[1].split("</tool_call>")[0])
    if "<tool_call>" not in completion or "</tool_call>" not in completion:
        return -3.0
    try:
        pred = _parse_tool_calls(completion.split("<tool_call>")[1].split("</tool_call>")[0])
    except (ValueError, TypeError):  # json.JSONDecodeError is a ValueError
        return -3.0
    return tool_call_score(gold, pred)


def tool_call_reward(completions: Sequence[Any], answer: Sequence[str], **_: Any) -> list[float]:
    """ToolRL's ``R = R_format + R_correct`` ∈ [−3, 4] for a batch (``answer`` = gold output column)."""
    out = []
    for c, a in zip(completions, answer, strict=True):
        text = completion_text(c)
        out.append(tool_format_reward(text, a) + tool_correctness_reward(text, a))
    return out
