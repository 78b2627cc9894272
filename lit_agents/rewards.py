"""Verifiable rewards for GRPO.

Batch reward functions follow the TRL contract ``fn(completions, **batch_fields) -> list[float | None]``:
``completions`` are strings (or chat message lists, whose last message's content is used) and every other
column of the batch arrives as a keyword argument repeated once per completion. ``None`` abstains.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Sequence

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
