"""ToolRL rewards against the released scoring, on the 80 real rlla test ground truths (bundled copy)."""
import copy
import json

import pytest

from data_modules.tool_use import SAMPLES, ToolUseDataModule
from lit_agents.tools.rewards import (
    length_reward,
    response_em_rewards,
    schedule_value,
    tool_call_score,
    toolrl_correctness_rewards,
    toolrl_format_rewards,
    toolrl_length_rewards,
    toolrl_rewards,
)


@pytest.fixture(scope="module")
def test_records():
    dm = ToolUseDataModule(train_path=None, test_path=str(SAMPLES / "rlla_test.parquet"))
    dm.setup()
    assert len(dm.test_records) == 80
    return dm.test_records


def _completion(calls, think="<think> I should use the appropriate tool. </think>"):
    return think + "\n<tool_call>\n" + "\n".join(json.dumps(c) for c in calls) + "\n</tool_call>"


def test_self_scored_ground_truths_get_the_maximum(test_records):
    answers = [r["answer"] for r in test_records]
    total = toolrl_rewards(answers, answers)
    for r, t in zip(test_records, total):
        # tool-call targets: format 1 + correctness 3; response targets: format 1 + correctness 0 (released)
        assert t == (4.0 if r["kind"] == "tool_call" else 1.0), r["id"]
    assert sum(r["kind"] == "tool_call" for r in test_records) == 71
    # the parsed gold (gold_calls column) scores the same as re-parsing the answer text
    parsed = toolrl_correctness_rewards(answers, gold_calls=[r["gold_calls"] for r in test_records])
    assert parsed == toolrl_correctness_rewards(answers, answers)


def _expected(score, max_score):
    return 6.0 * score / max_score - 3.0


def test_hand_made_wrong_calls_get_the_expected_partial_credit(test_records):
    singles = [r for r in test_records if r["gold_calls"] and len(r["gold_calls"]) == 1]
    assert len(singles) == 36
    checked = 0
    for r in singles:
        gold = r["gold_calls"][0]
        k = len(gold["parameters"])
        wrong_name = dict(gold, name=gold["name"] + "_x")
        got = toolrl_correctness_rewards([_completion([wrong_name])], [r["answer"]])[0]
        assert got == pytest.approx(-3.0)  # no name overlap, no matched call
        if k == 0:
            continue
        first = next(iter(gold["parameters"]))
        missing = copy.deepcopy(gold)
        del missing["parameters"][first]
        # names 1 + param-name Jaccard (k-1)/k + (k-1) equal values, of 1 + (1 + k)
        got = toolrl_correctness_rewards([_completion([missing])], [r["answer"]])[0]
        assert got == pytest.approx(_expected(1 + (k - 1) / k + (k - 1), 2 + k)), r["id"]
        wrong_value = copy.deepcopy(gold)
        wrong_value["parameters"][first] = ["not", "the", "value"]
        got = toolrl_correctness_rewards([_completion([wrong_value])], [r["answer"]])[0]
        assert got == pytest.approx(_expected(1 + 1 + (k - 1), 2 + k)), r["id"]
        checked += 1
    assert checked >= 30
    # format: no <think>, or trailing text after </tool_call>, scores 0; correctness ignores it
    r = singles[0]
    no_think = "<tool_call>\n" + json.dumps(r["gold_calls"][0]) + "\n</tool_call>"
    assert toolrl_format_rewards([no_think, r["answer"] + " extra"], [r["answer"]] * 2) == [0.0, 0.0]
    assert toolrl_correctness_rewards([no_think], [r["answer"]]) == [3.0]


def test_multi_call_partial_credit_by_hand(test_records):
    r = next(x for x in test_records if x["id"].endswith(":5"))  # generate_password + 2 × is_valid_parentheses
    gold = r["gold_calls"]
    assert [c["name"] for c in gold] == ["generate_password", "is_valid_parentheses", "is_valid_parentheses"]
    # drop the last call: names 2/3; matches 1+2 (2 params) + 1+1 = 5; max 1 + 3 + 2 + 2 = 8
    got = toolrl_correctness_rewards([_completion(gold[:2])], [r["answer"]])[0]
    assert got == pytest.approx(_expected(2 / 3 + 3 + 2, 8))
    # swapped order is not an exact list match, but every call matches fully
    got = toolrl_correctness_rewards([_completion(gold[::-1])], [r["answer"]])[0]
    assert got == pytest.approx(_expected(1 + 3 + 2 + 2, 8))


def test_malformed_predictions_score_the_minimum(test_records):
    ans = next(x for x in test_records if x["kind"] == "tool_call")["answer"]
    bad = ["no tags", "<think>t</think>\n<tool_call>\nnot json\n</tool_call>",
           "<think>t</think>\n<tool_call>\n{\"parameters\": {}}\n</tool_call>",  # no name
           "<think>t</think>\n<tool_call>\n[1, 2]\n</tool_call>",
           "<think>t</think>\n<tool_call>\n\n</tool_call>"]
    assert toolrl_correctness_rewards(bad, [ans] * len(bad)) == [-3.0] * len(bad)


def test_granularity_variants():
    gold = [{"name": "w", "parameters": {"city": "Paris", "unit": "C"}}]
    half = [{"name": "w", "parameters": {"city": "Paris", "unit": "F"}}]
    extra = [{"name": "w", "parameters": {"city": "Paris", "unit": "C", "x": 1}}]
    assert tool_call_score(gold, half) == pytest.approx(_expected(1 + 1 + 1, 4))
    assert tool_call_score(gold, half, granularity="coarse") == -3.0
    assert tool_call_score(gold, gold, granularity="coarse") == 3.0
    # intermediate: a call counts only when equal as a whole: names 1 + 0, of 1 + 1
    assert tool_call_score(gold, half, granularity="intermediate") == pytest.approx(_expected(1, 2))
    assert tool_call_score(gold, gold + gold, granularity="intermediate") == pytest.approx(_expected(0.5 + 1, 2))
    # fine: the Jaccard terms become strict — an extra parameter loses the whole name-overlap credit
    assert tool_call_score(gold, extra) == pytest.approx(_expected(1 + 2 / 3 + 2, 4))
    assert tool_call_score(gold, extra, granularity="fine") == pytest.approx(_expected(1 + 0 + 2, 4))
    ans = _completion(gold)
    assert toolrl_correctness_rewards([_completion(half)], [ans], granularity="coarse") == [-3.0]
    # equal max (released CORRECTMAX1): the same match mapped onto [-1, 1]
    assert toolrl_correctness_rewards([_completion(half)], [ans], max_reward=1.0, min_reward=-1.0) == \
        [pytest.approx(2 * 3 / 4 - 1)]
    with pytest.raises(ValueError, match="granularity"):
        tool_call_score(gold, half, granularity="medium")


def test_length_reward_and_its_schedule():
    words = " ".join(["w"] * 128)
    assert length_reward(f"<think> {words} </think>") == 0.25
    assert length_reward("no think") == 0.0
    assert length_reward(f"<think> {words} {words} {words} {words} {words} </think>") == 1.0  # capped
    # released SCHEDULELENGTH: max words 384 + 256 * step / 105 (keeps growing after 105)
    sched = [[0, 384], [105, 640]]
    assert toolrl_length_rewards([f"<think> {words} </think>"], step=0,
                                 max_words_schedule=sched) == [round(128 / 384, 2)]
    assert toolrl_length_rewards([f"<think> {words} </think>"], step=210, max_words_schedule=sched) == [0.14]


def test_weight_schedules_reproduce_the_released_scale_variants():
    # dynamic (released SCHEDULEREWARD): format range [-2 + 2s/150 (≤ -1), 2 - s/150 (≥ 1)] → width
    def released_format_width(s):
        return max(1.0, 2 - s / 150) - min(-1.0, -2 + 2 * s / 150)

    fmt = [[0, 4.0], [75, 2.5], [150, 2.0]]
    corr = [[0, 2 / 3], [150, 1.0]]
    for s in (0, 10, 50, 75, 100, 149, 150, 300):
        assert schedule_value(fmt, s) == pytest.approx(released_format_width(s))
        assert 3 * schedule_value(corr, s) == pytest.approx(min(3.0, 2 + s / 150))
    two_stage_fmt = [[29, 1.0], [30, 0.5]]  # released MAX1STEP30MAX3: format max halves from step 30
    assert [schedule_value(two_stage_fmt, s) for s in (0, 29, 30, 99)] == [1.0, 1.0, 0.5, 0.5]


def test_response_exact_match_reward():
    got = response_em_rewards(["<think>t</think>\n<response> James Madison. </response>", "<response>x</response>",
                               "James Madison"], answer=["james madison"] * 3)
    assert got == [1.0, 0.0, 0.0]


def _init_args(name):
    import yaml

    from tests.helpers import REPO
    return yaml.safe_load((REPO / "configs" / "toolrl" / f"{name}.yaml").read_text())["model"]["init_args"]


def test_ablation_configs_encode_the_released_variants():
    dyn = _init_args("scale_dynamic")["reward_weight_schedules"]
    for s in (0, 30, 75, 120, 150, 400):
        assert schedule_value(dyn[0], s) == pytest.approx(max(1.0, 2 - s / 150) - min(-1.0, -2 + 2 * s / 150))
        assert 6 * schedule_value(dyn[1], s) == pytest.approx(2 * min(3.0, 2 + s / 150), rel=1e-6)
    two = _init_args("scale_two_stage")["reward_weight_schedules"]
    assert [schedule_value(two[0], s) for s in (0, 29, 30)] == [1.0, 1.0, 0.5]
    assert [round(3 * schedule_value(two[1], s), 5) for s in (0, 29, 30)] == [1.0, 1.0, 3.0]
    assert _init_args("scale_equal_max")["reward_kwargs"][1] == {"max_reward": 1.0, "min_reward": -1.0}
    for g in ("fine", "intermediate", "coarse"):
        assert _init_args(f"granularity_{g}")["reward_kwargs"][1] == {"granularity": g}
    assert _init_args("length")["reward_funcs"][-1].endswith("toolrl_length_rewards")
    assert _init_args("length_dynamic")["reward_kwargs"][2] == {"max_words_schedule": [[0, 384], [105, 640]]}


def test_prefix_shaping_reward():
    from lit_agents.tools.rewards import tool_call_prefix_rewards

    gold = "<think> c </think>\n<tool_call>\nX\n</tool_call>"
    got = tool_call_prefix_rewards([gold, gold[:10] + "zzz", "", "  " + gold[:5]], [gold] * 4)
    assert got == [1.0, 10 / len(gold), 0.0, 5 / len(gold)]
