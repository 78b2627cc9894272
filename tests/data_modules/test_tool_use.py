"""ToolUseDataModule: the rlla json and verl parquet formats, ground truth parsed once, located errors."""
import json

import pytest

from data_modules.tool_use import SAMPLES, SyntheticToolTask, ToolUseDataModule, history_messages
from lit_agents.fileio import DataError
from tests.helpers import SHARED_DATA


def _dm(**kw):
    dm = ToolUseDataModule(**kw)
    dm.setup()
    return dm


def test_bundled_rlla_raw_and_verl_parquet():
    dm = _dm()
    assert len(dm.train_records) == 40 and len(dm.test_records) == 80
    r = dm.test_records[5]
    assert r["prompt"][0]["role"] == "system" and "**Available Tools**" in r["prompt"][0]["content"]
    assert r["prompt"][1]["content"].startswith("**Dialogue Records History**")
    assert r["gold_calls"][0] == {"name": "generate_password", "parameters": {"length": 10, "include_special": False}}
    assert r["kind"] == "tool_call" and r["gold_response"] is None
    resp = [x for x in dm.test_records if x["kind"] == "response"]
    assert len(resp) == 9 and all(x["gold_calls"] is None and x["gold_response"] for x in resp)
    # SFT reasoning may mention the tags: the gold is parsed after </think>
    for x in dm.train_records:
        assert (x["gold_calls"] is not None) == ("<tool_call>" in x["answer"].split("</think>", 1)[1])


@pytest.mark.skipif(not (SHARED_DATA / "toolrl_rlla").is_dir(), reason="needs ../shared/data")
def test_bundled_copies_match_the_shared_data():
    assert (SAMPLES / "rlla_test.parquet").read_bytes() == (SHARED_DATA / "toolrl_rlla" / "test.parquet").read_bytes()
    full = json.loads((SHARED_DATA / "toolrl_rlla" / "rlla_sft.json").read_text())
    sample = json.loads((SAMPLES / "rlla_sft_sample.json").read_text())
    assert all(s in full for s in sample)
    dm = _dm(train_path=str(SHARED_DATA / "toolrl_rlla" / "rlla_sft.json"), test_path=None)
    assert len(dm.train_records) == 400 and sum(r["kind"] == "tool_call" for r in dm.train_records) == 346


def test_history_as_messages():
    dm = _dm(history="messages", test_path=None)
    multi = [r for r in dm.train_records if len(r["prompt"]) > 2]
    assert multi
    roles = [m["role"] for m in multi[0]["prompt"]]
    assert roles[0] == "system" and roles[1] == "user" and "assistant" in roles and roles[-1] == "user"
    obs = [m for r in multi for m in r["prompt"] if m["content"].startswith("<obs>")]
    assert obs and all(m["role"] == "user" for m in obs)
    with pytest.raises(DataError, match="history"):
        history_messages("**Dialogue Records History**\n<think> x </think>", path="f", line=3)


def _write(tmp_path, records):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(records))
    return str(p)


GOOD = {"instruction": "sys", "input": "<user> hi </user>", "output": "<think> t </think>\n<response> ok </response>"}


@pytest.mark.parametrize("bad, field, match", [
    ({**GOOD, "output": "<think> t </think>\n<tool_call>\n{not json}\n</tool_call>"}, "output", "bad tool call"),
    ({**GOOD, "output": "<think> t </think>\n<tool_call>\n{\"name\": \"f\"}"}, "output", "without"),
    ({**GOOD, "output": "<think> t </think> nothing"}, "output", "neither"),
    ({**GOOD, "output": "<think> t </think>\n<tool_call>\n{\"name\": 3}\n</tool_call>"}, "output", "string 'name'"),
    ({k: v for k, v in GOOD.items() if k != "input"}, "input", "non-empty string"),
])
def test_bad_records_are_located_or_counted(tmp_path, bad, field, match):
    path = _write(tmp_path, [GOOD, bad, GOOD])
    with pytest.raises(DataError, match=match) as e:
        _dm(train_path=path, test_path=None)
    assert e.value.line == 2 and e.value.field == field and "bad.json" in str(e.value)
    dm = _dm(train_path=path, test_path=None, on_error="skip")
    assert len(dm.train_records) == 2 and dm.skips.total == 1


def test_verl_ground_truth_errors_are_located(tmp_path):
    p = tmp_path / "v.jsonl"
    rows = [{"prompt": [{"role": "user", "content": "q"}], "reward_model": {"ground_truth": "<think>t</think>"}}]
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DataError) as e:
        _dm(train_path=str(p), test_path=None)
    assert e.value.field == "reward_model.ground_truth" and e.value.line == 1


def test_missing_file_and_offline_hub_name():
    with pytest.raises(DataError, match="not found"):
        _dm(train_path="nowhere/train.parquet", test_path=None)
    with pytest.raises(DataError, match="hub dataset"):
        _dm(train_path="no-such-user/no-such-toolrl-set", test_path=None)


def test_bamboogle_qa_records_show_the_tool_schema():
    dm = _dm(train_path=None, test_path=str(SAMPLES / "bamboogle.json"), tools=["lit_agents.tools.search.search"])
    assert len(dm.test_records) == 125
    r = dm.test_records[0]
    assert r["kind"] == "qa" and r["answer"] == "james madison"
    assert "1. Name: search" in r["prompt"][0]["content"] and '"query"' in r["prompt"][0]["content"]


def test_synthetic_task_is_determined_by_the_prompt_and_held_out():
    dm = _dm(synthetic=SyntheticToolTask(n_train=50, n_val=10, n_test=10), system_prompt="toolrl_system_short")
    r = dm.train_records[0]
    op, a, b = r["prompt"][1]["content"].split()[1:4]
    assert r["gold_calls"] == [{"name": op, "parameters": {"a": int(a), "b": int(b)}}]
    train = {x["prompt"][1]["content"] for x in dm.train_records}
    assert not train & {x["prompt"][1]["content"] for x in dm.test_records + dm.val_records}
    assert "1. Name: add" in r["prompt"][0]["content"]
