"""Tool-use evaluation metrics on hand-made predictions."""
import json

import pytest

from lit_agents.tools.metrics import score_prediction, tool_use_metrics

GOLD = [{"name": "w", "parameters": {"city": "Paris", "unit": "C"}}, {"name": "n", "parameters": {"q": "x"}}]


def _rec(kind="tool_call", gold=GOLD, answer=None):
    body = ("<think> t </think>\n<tool_call>\n" + "\n".join(json.dumps(c) for c in gold) + "\n</tool_call>"
            if gold else "")
    return {"id": kind + str(len(gold or [])), "kind": kind, "gold_calls": gold,
            "answer": answer if answer is not None else body}


def _out(calls, think="<think> ok </think>"):
    return think + "\n<tool_call>\n" + "\n".join(json.dumps(c) for c in calls) + "\n</tool_call>"


def test_exact_partial_and_wrong_calls():
    exact = score_prediction(_out(GOLD), _rec())
    assert exact["correct"] and exact["name_match"] and exact["format_valid"]
    half = score_prediction(_out([{"name": "w", "parameters": {"city": "Rome", "unit": "C"}}]), _rec())
    assert not half["correct"] and not half["name_match"]
    m = tool_use_metrics([exact, half])
    assert m["accuracy"] == 0.5 and m["tool_name_accuracy"] == 0.5
    # param names: gold 3 + 3, predicted 3 + 2, matched 3 + 2 -> F1 = 2*5 / (6 + 5)
    assert m["param_name_f1"] == pytest.approx(10 / 11)
    # values: gold 3 + 3 triples; hits 3 + 1
    assert m["param_value_accuracy"] == pytest.approx(4 / 6)
    assert m["format_valid_rate"] == 1.0 and m["avg_tool_calls"] == 1.5


def test_unparseable_output_and_response_targets():
    bad = score_prediction("<think> t </think>\n<tool_call>\n{oops}\n</tool_call>", _rec())
    assert not bad["correct"] and bad["pred_calls"] is None and bad["tool_calls"] == 0
    resp_rec = _rec("response", None, "<think> t </think>\n<response> hello </response>")
    ok = score_prediction("<think> a </think>\n<response> hi there </response>", resp_rec)
    called = score_prediction(_out(GOLD), resp_rec)
    assert ok["correct"] and ok["format_valid"] and not called["correct"] and not called["format_valid"]
    m = tool_use_metrics([bad, ok, called])
    assert m["response_accuracy"] == 0.5 and m["tool_call_accuracy"] == 0.0 and m["param_name_f1"] == 0.0


def test_qa_exact_match_with_tool_episodes():
    rec = {"id": "q", "kind": "qa", "answer": "james madison"}
    text = ('<think> s </think>\n<tool_call>\n{"name": "search", "parameters": {"query": "Citibank"}}\n</tool_call>'
            '\n<obs> [] </obs>\n<think> so </think>\n<response> James Madison. </response>')
    r = score_prediction(text, rec, tool_calls_made=1)
    assert r["correct"] and r["format_valid"] and r["tool_calls"] == 1
    wrong = score_prediction("<think> s </think>\n<response> Monroe </response>", rec, tool_calls_made=0)
    m = tool_use_metrics([r, wrong])
    assert m["exact_match"] == 0.5 and m["avg_tool_calls"] == 0.5
