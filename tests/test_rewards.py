"""Hand cases for the RM-R1 judgment reward and the ToolRL tool-call reward."""
import json

import pytest

from lit_agents.rewards import judgment_reward, judgment_rewards, parse_verdict, verdict_format_rewards
from lit_agents.tools.rewards import tool_call_score, tool_correctness_reward, tool_format_reward
from lit_agents.tools.rewards import toolrl_rewards as tool_call_reward

A, B = "<answer>[[A]]</answer>", "<answer>[[B]]</answer>"


def test_judgment_reward_hand_cases():
    assert judgment_reward("<eval>A is right.</eval>\n" + A, "A") == 1.0
    assert judgment_reward("<eval>...</eval>" + B, "A") == -1.0  # wrong verdict
    assert judgment_reward("<eval>...</eval>" + B, "model_b") == 1.0  # released label spelling
    assert judgment_reward(A + " or " + B, "A") == -1.0  # both tags
    assert judgment_reward("I prefer A.", "A") == -1.0  # no tag
    assert judgment_reward("[[A]]", "A") == -1.0  # bare verdict without the answer tag
    # verdict earlier than the last 80 characters is not seen
    assert judgment_reward(A + " " + "x" * 80, "A") == -1.0
    assert judgment_reward(A + " " + "x" * 57, "A") == 1.0  # 22 + 1 + 57 = 80 characters: still inside
    # a wrong verdict early on plus the right one at the end: only the tail counts
    assert judgment_reward(B + "y" * 100 + A, "A") == 1.0
    with pytest.raises(ValueError):
        judgment_reward(A, "C")


def test_batch_adapter_and_parse_verdict():
    comps = [A, B, [{"role": "assistant", "content": B}], "none"]
    assert judgment_rewards(comps, label=["A", "A", "B", "B"], prompt=["p"] * 4) == [1.0, -1.0, 1.0, -1.0]
    assert [parse_verdict(c) for c in (A, B, A + B, "x")] == ["A", "B", None, None]
    fmt = verdict_format_rewards(["zz" + A, "", "<answer>[["])
    assert fmt[0] == 1.0 and fmt[1] == 0.0 and fmt[2] == pytest.approx(10 / 22)


def _call(*calls):
    return "<tool_call>\n" + "\n".join(json.dumps(c) for c in calls) + "\n</tool_call>"


def test_tool_format_reward():
    gold_call = "<think>x</think>\n" + _call({"name": "f", "parameters": {}})
    assert tool_format_reward("<think>plan</think>\n" + _call({"name": "g", "parameters": {}}), gold_call) == 1.0
    assert tool_format_reward(_call({"name": "g", "parameters": {}}), gold_call) == 0.0  # no think
    assert tool_format_reward("<think>a</think>\n<response>hi</response>", "<response>ok</response>") == 1.0
    assert tool_format_reward("<think>a</think>\n<response>hi</response> extra", "<response>ok</response>") == 0.0
    both = "<think>a</think>\n" + _call({"name": "f", "parameters": {}}) + "\n<response>r</response>"
    assert tool_format_reward(both, "<tool_call>\n{}\n</tool_call><response>r</response>") == 1.0
    assert tool_format_reward("<think>only</think>", "plain answer") == 1.0


def test_tool_correctness_hand_values():
    gold = [{"name": "weather", "parameters": {"city": "Paris", "unit": "C"}}]
    assert tool_call_score(gold, gold) == 3.0
    # right name, both param names, one value right: score = 1 + (1 + 1) = 3 of max 1 + (1 + 2) = 4
    pred = [{"name": "weather", "parameters": {"city": "Paris", "unit": "F"}}]
    assert tool_call_score(gold, pred) == pytest.approx(6 * 3 / 4 - 3)
    # wrong tool: names Jaccard 0, no match -> -3
    assert tool_call_score(gold, [{"name": "news", "parameters": {"city": "Paris"}}]) == pytest.approx(-3.0)
    # extra call: names Jaccard 1/2; weather matches fully (1 + 2) -> 3.5 / 4
    extra = pred[:0] + gold + [{"name": "news", "parameters": {}}]
    assert tool_call_score(gold, extra) == pytest.approx(6 * 3.5 / 4 - 3)
    answer = "<think>t</think>\n" + _call(*gold)
    assert tool_correctness_reward("<think>t</think>\n" + _call(*pred), answer) == pytest.approx(1.5)
    assert tool_correctness_reward("<think>t</think>\n<tool_call>\nnot json\n</tool_call>", answer) == -3.0
    assert tool_correctness_reward("no call", answer) == -3.0
    assert tool_correctness_reward("anything", "<response>no tool</response>") == 0.0


def test_tool_call_reward_is_format_plus_correctness():
    gold = {"name": "add", "parameters": {"a": 1, "b": 2}}
    answer = "<think>t</think>\n" + _call(gold)
    perfect = "<think>sum them</think>\n" + _call(gold)
    no_think = _call(gold)
    assert tool_call_reward([perfect, no_think], answer=[answer, answer]) == [4.0, 3.0]
