"""Tool-use evaluation: exact calls, tool names, parameter names and values, format; QA exact match.

One result per record (:func:`score_prediction`), aggregated by :func:`tool_use_metrics`:

- ``accuracy``: tool-call targets — the predicted call list equals the gold list exactly (the released
  scorer's exact-match case); response targets — the model answers with ``<response>`` and calls no tool;
  QA targets — normalised exact match of the final ``<response>`` (SQuAD normalisation, as Bamboogle is scored).
- ``tool_name_accuracy``: tool-call targets whose multiset of predicted tool names equals the gold one.
- ``param_name_f1``: micro F1 over ``(tool name, parameter name)`` pairs (multisets) of tool-call targets.
- ``param_value_accuracy``: share of gold ``(tool, parameter, value)`` triples the prediction contains.
- ``format_valid_rate``: the ToolRL format reward is 1 (for QA episodes: the final turn is a valid response).
- ``avg_tool_calls``: tool calls per record (executed calls for tool episodes, predicted calls otherwise).
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Any

from lit_agents.tools.parsing import extract_response, extract_tool_calls
from lit_agents.tools.rewards import normalize_answer, tool_format_reward


def _triples(calls: list[dict] | None, with_value: bool) -> Counter:
    out: Counter = Counter()
    for c in calls or []:
        for k, v in (c.get("parameters") or {}).items():
            out[(c["name"], k, json.dumps(v, sort_keys=True)) if with_value else (c["name"], k)] += 1
    return out


def score_prediction(text: str, record: dict[str, Any], tool_calls_made: int | None = None) -> dict[str, Any]:
    """Per-record evaluation of a model output ``text`` against a ToolUseDataModule record."""
    kind = record["kind"]
    calls, response = extract_tool_calls(text), extract_response(text)
    final_turn = text.rsplit("</obs>", 1)[-1].strip()
    out: dict[str, Any] = {"id": record.get("id"), "kind": kind, "output": text, "pred_calls": calls,
                           "pred_response": response,
                           "tool_calls": tool_calls_made if tool_calls_made is not None else len(calls or [])}
    if kind == "qa":
        golds = record["answer"] if isinstance(record["answer"], list) else [record["answer"]]
        out["correct"] = response is not None and any(normalize_answer(response) == normalize_answer(g) for g in golds)
        out["format_valid"] = tool_format_reward(final_turn, "<response></response>") == 1.0
        return out
    out["format_valid"] = tool_format_reward(text, record["answer"]) == 1.0
    gold = record.get("gold_calls")
    if kind == "response":
        out["correct"] = calls is None and response is not None
        return out
    out["correct"] = calls == gold
    out["name_match"] = calls is not None and Counter(c["name"] for c in calls) == Counter(c["name"] for c in gold)
    g_names, p_names = _triples(gold, False), _triples(calls, False)
    out["param_name_tp"], out["param_name_gold"] = sum((g_names & p_names).values()), sum(g_names.values())
    out["param_name_pred"] = sum(p_names.values())
    g_vals, p_vals = _triples(gold, True), _triples(calls, True)
    out["param_value_hit"], out["param_value_gold"] = sum((g_vals & p_vals).values()), sum(g_vals.values())
    return out


def tool_use_metrics(results: list[dict[str, Any]]) -> dict[str, float]:
    """Aggregate :func:`score_prediction` results (see the module docstring)."""
    if not results:
        return {}
    n = len(results)
    out = {"n": float(n), "accuracy": sum(r["correct"] for r in results) / n,
           "format_valid_rate": sum(r["format_valid"] for r in results) / n,
           "avg_tool_calls": sum(r["tool_calls"] for r in results) / n}
    calls = [r for r in results if r["kind"] == "tool_call"]
    if calls:
        out["tool_call_accuracy"] = sum(r["correct"] for r in calls) / len(calls)
        out["tool_name_accuracy"] = sum(r["name_match"] for r in calls) / len(calls)
        tp = sum(r["param_name_tp"] for r in calls)
        denom = sum(r["param_name_gold"] + r["param_name_pred"] for r in calls)
        out["param_name_f1"] = 2 * tp / denom if denom else 1.0
        gold_vals = sum(r["param_value_gold"] for r in calls)
        out["param_value_accuracy"] = sum(r["param_value_hit"] for r in calls) / gold_vals if gold_vals else 1.0
    resp = [r for r in results if r["kind"] == "response"]
    if resp:
        out["response_accuracy"] = sum(r["correct"] for r in resp) / len(resp)
    qa = [r for r in results if r["kind"] == "qa"]
    if qa:
        out["exact_match"] = sum(r["correct"] for r in qa) / len(qa)
    return out
