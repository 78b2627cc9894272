"""ToolRL rewards (Qian et al. 2025), reimplemented from the released scorer (``verl/utils/reward_score/rlla.py``)
as separate GRPO reward functions, so format and correctness get their own weights (and weight schedules,
``model.reward_weight_schedules``) in the engine.

Batch functions follow the engine's contract ``fn(completions, **columns) -> list[float]``; the gold output
is the ``answer`` column (a ToolUseDataModule record field). The released environment-variable variants are
keyword arguments here (``model.reward_kwargs`` in YAML):

==================  ============================  =========================================================
released env var    here                          effect
==================  ============================  =========================================================
(default)           ``granularity="original"``    Jaccard(names) + Σ [Jaccard(param names) + #equal values]
REFINEDREWARD=1     ``granularity="fine"``        the Jaccard terms become strict (equal lists or 0)
INTERMEDIATEREWARD  ``granularity="intermediate"`` Jaccard(names) + Σ [1 iff the whole call is equal]
COARSEREWARD=1      ``granularity="coarse"``      max iff all calls equal, else min
CORRECTMAX1=1       ``max_reward=1, min_reward=-1``  (or weight 1/3 on the [−3, 3] function: same advantages)
WITHLENGTH=1        :func:`toolrl_length_rewards`  words in ``<think>`` / 512, rounded to 0.01, capped at 1
SCHEDULELENGTH=1    ``max_words_schedule``          the 512 grows 384 → 640 over 105 steps
MAX1STEP30MAX3 / SCHEDULEREWARD  weight schedules in the engine (configs/toolrl/scale_*.yaml)
==================  ============================  =========================================================
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Any, Literal
from collections.abc import Sequence

from lit_agents.rewards import completion_text
from lit_agents.tools.parsing import (
    CALL_CLOSE,
    CALL_OPEN,
    RESPONSE_CLOSE,
    RESPONSE_OPEN,
    extract_response,
    parse_call_lines,
    think_text,
    tool_call_block,
)

Granularity = Literal["original", "fine", "intermediate", "coarse"]
GRANULARITIES = ("original", "fine", "intermediate", "coarse")


def match_score(a: list, b: list, strict: bool = False) -> float:
    """Multiset Jaccard ``|a ∩ b| / |a ∪ b|`` (1 for equal lists, both empty included; 0 if one is empty);
    ``strict``: 1 for equal lists, else 0 (the released REFINEDREWARD)."""
    if a == b:
        return 1.0
    if strict or not a or not b:
        return 0.0
    ca, cb = Counter(a), Counter(b)
    inter = sum(min(ca[k], cb[k]) for k in ca.keys() & cb.keys())
    return inter / (len(a) + len(b) - inter)


def tool_call_match(gold: list[dict], pred: list, granularity: Granularity = "original") -> tuple[float, float]:
    """``(score, max_score)`` of predicted calls against gold calls (the released matching, greedy per gold
    call over unused predicted calls of the same name). Raises ``KeyError``/``TypeError``/``AttributeError``
    where the released code does on a malformed prediction (a call without ``name``, non-object parameters)."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    strict = granularity == "fine"
    score = match_score([g["name"] for g in gold], [p["name"] for p in pred], strict)
    max_score = 1.0
    used: set[int] = set()
    for g in gold:
        gp = g["parameters"]
        max_score += 1.0 if granularity == "intermediate" else 1.0 + len(gp)
        best, best_i = 0.0, -1
        for i, p in enumerate(pred):
            if i in used or p["name"] != g["name"]:
                continue
            if granularity == "intermediate":
                if p == g:
                    best, best_i = 1.0, i
                    break
                continue
            pp = p["parameters"]
            s = match_score(list(gp.keys()), list(pp.keys()), strict) \
                + sum(1.0 for k, v in gp.items() if k in pp and pp[k] == v)
            if s > best:
                best, best_i = s, i
        if best_i >= 0:
            used.add(best_i)
            score += best
    return score, max_score


def tool_call_score(gold: list[dict], pred: list, max_reward: float = 3.0, min_reward: float = -3.0,
                    granularity: Granularity = "original") -> float:
    """ToolRL correctness of parsed calls in ``[min_reward, max_reward]``: ``max_reward`` on an exact match,
    else the match score normalised by ``1 + Σ_gold (1 + #params)`` mapped linearly onto the range
    (``coarse``: ``min_reward`` unless exact)."""
    if gold == pred:
        return max_reward
    if granularity == "coarse":
        return min_reward
    score, max_score = tool_call_match(gold, pred, granularity)
    return (max_reward - min_reward) * score / max_score + min_reward


def tool_format_reward(completion: str, answer: str, max_reward: float = 1.0, min_reward: float = 0.0) -> float:
    """ToolRL format reward: ``max_reward`` iff the (stripped) completion is ``<think>…</think>`` then exactly
    the blocks the gold answer has — ``\\n<tool_call>\\n…\\n</tool_call>`` and/or ``\\n<response>…</response>``,
    in that order, each tag once, nothing after; else ``min_reward``."""
    text = completion.strip()
    want_call, want_resp = CALL_OPEN in answer, RESPONSE_OPEN in answer
    pattern = r"^<think>.*?</think>"
    if want_call:
        pattern += r"\n<tool_call>\n.*?\n</tool_call>"
    if want_resp:
        pattern += r"\n<response>.*?</response>"
    if not re.search(pattern + "$", text, re.DOTALL):
        return min_reward
    for (o, c), wanted in (((CALL_OPEN, CALL_CLOSE), want_call), ((RESPONSE_OPEN, RESPONSE_CLOSE), want_resp)):
        if wanted and (text.count(o) != 1 or text.count(c) != 1):
            return min_reward
    return max_reward


def gold_tool_calls(answer: str) -> list | None:
    """The gold answer's tool calls (``json.loads`` per line), or None when it has no ``<tool_call>``."""
    if CALL_OPEN not in answer:
        return None
    return parse_call_lines(answer.split(CALL_OPEN)[1].split(CALL_CLOSE)[0].strip())


def tool_correctness_reward(completion: str, answer: str | None = None, *, gold_calls: list | None = None,
                            max_reward: float = 3.0, min_reward: float = -3.0,
                            granularity: Granularity = "original") -> float:
    """ToolRL correctness: 0 when the gold has no tool call; ``min_reward`` when the completion has no
    ``<tool_call>…</tool_call>`` block, a line that is not JSON, or a malformed call; else
    :func:`tool_call_score`. ``gold_calls`` (parsed once by the DataModule) spares re-parsing ``answer``."""
    gold = gold_calls if gold_calls is not None else gold_tool_calls(answer or "")
    if gold is None:
        return 0.0
    block = tool_call_block(completion.strip())
    if block is None:
        return min_reward
    try:
        pred = parse_call_lines(block)
        return tool_call_score(gold, pred, max_reward, min_reward, granularity)
    except (ValueError, KeyError, TypeError, AttributeError):  # what the released bare ``except`` meets
        return min_reward


def length_reward(completion: str, max_words: float = 512.0, max_reward: float = 1.0, min_reward: float = 0.0) -> float:
    """Released length reward: ``round(#words in <think> / max_words, 2)`` capped at 1, mapped onto
    ``[min_reward, max_reward]``; ``min_reward`` without a ``<think>`` block."""
    think = think_text(completion)
    if think is None:
        return min_reward
    frac = min(1.0, round(len(think.split()) / max_words, 2))
    return frac * (max_reward - min_reward) + min_reward


def _gold_column(answer: Sequence[str] | None, gold_calls: Sequence | None, n: int) -> list:
    if gold_calls is not None:
        return list(gold_calls)
    if answer is None:
        raise ValueError("ToolRL rewards need the 'answer' (or 'gold_calls') column")
    return [None] * n


# ------------------------------------------------------------------ batch reward functions (GRPO contract)
def toolrl_format_rewards(completions: Sequence[Any], answer: Sequence[str], max_reward: float = 1.0,
                          min_reward: float = 0.0, **_: Any) -> list[float]:
    """Batch :func:`tool_format_reward` (∈ {0, 1} by default)."""
    return [tool_format_reward(completion_text(c), a, max_reward, min_reward)
            for c, a in zip(completions, answer, strict=True)]


def toolrl_correctness_rewards(completions: Sequence[Any], answer: Sequence[str] | None = None,
                               gold_calls: Sequence | None = None, max_reward: float = 3.0, min_reward: float = -3.0,
                               granularity: Granularity = "original", **_: Any) -> list[float]:
    """Batch :func:`tool_correctness_reward` (∈ [−3, 3] by default). ``gold_calls`` entries that are None
    (response targets) score 0 as in the released code."""
    golds = _gold_column(answer, gold_calls, len(completions))
    out = []
    for i, c in enumerate(completions):
        text = completion_text(c)
        if gold_calls is not None:
            g = golds[i]
            out.append(0.0 if g is None else tool_correctness_reward(text, gold_calls=g, max_reward=max_reward,
                                                                       min_reward=min_reward, granularity=granularity))
        else:
            out.append(tool_correctness_reward(text, answer[i], max_reward=max_reward, min_reward=min_reward,
                                               granularity=granularity))
    return out


def schedule_value(points: Sequence[Sequence[float]], step: float) -> float:
    """Piecewise-linear interpolation of ``[[step, value], …]`` (sorted by step), constant outside."""
    pts = sorted((float(s), float(v)) for s, v in points)
    if not pts:
        raise ValueError("a schedule needs at least one [step, value] point")
    if step <= pts[0][0]:
        return pts[0][1]
    for (s0, v0), (s1, v1) in zip(pts, pts[1:]):
        if step <= s1:
            return v0 + (v1 - v0) * (step - s0) / (s1 - s0) if s1 > s0 else v1
    return pts[-1][1]


def toolrl_length_rewards(completions: Sequence[Any], step: int = 0, max_words: float = 512.0,
                          max_words_schedule: Sequence[Sequence[float]] | None = None, max_reward: float = 1.0,
                          min_reward: float = 0.0, **_: Any) -> list[float]:
    """Batch :func:`length_reward`. ``max_words_schedule`` (``[[step, words], …]``, linear, extrapolated
    beyond the last two points as the released SCHEDULELENGTH ``384 + 256·step/105`` is) replaces ``max_words``;
    ``step`` is the engine's generation step."""
    words = max_words
    if max_words_schedule:
        pts = sorted((float(s), float(v)) for s, v in max_words_schedule)
        if len(pts) >= 2 and step > pts[-1][0]:  # the released schedule keeps growing
            (s0, v0), (s1, v1) = pts[-2], pts[-1]
            words = v1 + (v1 - v0) * (step - s1) / (s1 - s0)
        else:
            words = schedule_value(pts, step)
    return [length_reward(completion_text(c), words, max_reward, min_reward) for c in completions]


def toolrl_rewards(completions: Sequence[Any], answer: Sequence[str], **_: Any) -> list[float]:
    """``R = R_format + R_correct`` ∈ [−3, 4] (the released default total) for a batch."""
    f = toolrl_format_rewards(completions, answer)
    c = toolrl_correctness_rewards(completions, answer)
    return [a + b for a, b in zip(f, c)]


def normalize_answer(s: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    import string

    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def response_exact_match(completion: str, answer: str | Sequence[str]) -> float:
    """1 iff the last ``<response>`` (normalised) equals a gold answer (normalised), else 0."""
    pred = extract_response(completion)
    golds = [answer] if isinstance(answer, str) else list(answer)
    return float(pred is not None and any(normalize_answer(pred) == normalize_answer(g) for g in golds))


def response_em_rewards(completions: Sequence[Any], answer: Sequence[str], **_: Any) -> list[float]:
    """Batch :func:`response_exact_match` (QA with tools, e.g. Bamboogle with the search tool)."""
    return [response_exact_match(completion_text(c), a) for c, a in zip(completions, answer, strict=True)]



def tool_call_prefix_rewards(completions: Sequence[Any], answer: Sequence[str], **_: Any) -> list[float]:
    """Dense shaping in [0, 1]: the length of the common prefix of the (stripped) completion and the gold
    output text, over the gold's length — credit for getting the answer right from its start, in order.

    Not in the paper (its policies are instruction-tuned, so they already write the format); we add it only
    to the tiny from-scratch default, where the {0, 1} format and the parse-or-minimum correctness rewards are
    flat for every random completion and give GRPO no signal to start from. (An order-free similarity such as
    ``difflib``'s ratio was tried first: the tiny policy collapsed onto in-order fragments of the gold.)"""
    out = []
    for c, a in zip(completions, answer, strict=True):
        text, gold = completion_text(c).strip(), a.strip()
        n = 0
        for x, y in zip(text, gold):
            if x != y:
                break
            n += 1
        out.append(n / max(1, len(gold)))
    return out
