"""Preference pairs: formats, A/B alternation, both-order evaluation, located errors, trace collection."""
import json

import pytest

from data_modules.io import samples_dir
from data_modules.preference import (
    PreferenceDataModule,
    PreferenceSource,
    build_records,
    load_pairs,
    parse_hh_dialogue,
)
from data_modules.rm_r1_traces import TraceDistillDataModule, collect_traces
from lit_agents.fileio import DataError
from lit_agents.generation import TextGenerator
from lit_agents.prompts import load_prompt
from tests.helpers import SHARED_DATA, TEST_DATA, needs_shared

BUNDLED = samples_dir() / "rm_r1"
RENDER = dict(system_prompt="SYS", max_response_chars=None, prompt_format="messages")


def test_parse_hh_dialogue():
    msgs = parse_hh_dialogue("\n\nHuman: hi\n\nAssistant: hello\n\nHuman: bye\n\nAssistant: ciao", path="f",
                             line=1, field="chosen")
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]
    assert msgs[-1]["content"] == "ciao"
    with pytest.raises(DataError, match="Assistant turn"):
        parse_hh_dialogue("\n\nHuman: only a question", path="f", line=3, field="chosen")


def test_bundled_pairs_alternate_in_training_and_take_both_orders_in_eval():
    pairs = load_pairs(PreferenceSource(str(BUNDLED / "hh_harmless_train.jsonl")))
    assert len(pairs) == 48 and all(p["category"] == "Safety" for p in pairs)
    train = build_records(pairs[:4], both_orders=False, **RENDER)
    assert [r["label"] for r in train] == ["A", "B", "A", "B"]
    user = train[0]["prompt"][1]["content"]
    assert train[0]["prompt"][0] == {"role": "system", "content": "SYS"}
    assert user.startswith("[Client Question]\n") and pairs[0]["chosen"] in user.split("[The End of Chatbot A")[0]
    assert pairs[1]["chosen"] in train[1]["prompt"][1]["content"].split("[The Start of Chatbot B's Response]")[1]
    evals = build_records(pairs[:3], both_orders=True, **RENDER)
    assert len(evals) == 6 and [r["order"] for r in evals[:2]] == ["chosen_A", "chosen_B"]
    assert evals[0]["pair_id"] == evals[1]["pair_id"] and [r["label"] for r in evals[:2]] == ["A", "B"]


def test_datamodule_defaults_and_text_format():
    dm = PreferenceDataModule(system_prompt="rm_r1_cor_system_short", prompt_format="text", max_response_chars=20)
    dm.setup("fit")
    assert len(dm.train_records) == 48 and len(dm.val_records) == 16
    assert isinstance(dm.train_records[0]["prompt"], str)
    assert dm.train_records[0]["prompt"].startswith(load_prompt("rm_r1_cor_system_short"))


def test_bad_records_raise_with_location_or_are_counted(tmp_path):
    good = {"prompt": "q", "chosen": "a", "rejected": "b"}
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({"prompt": "q", "chosen": "a"}) + "\n")
    with pytest.raises(DataError) as err:
        load_pairs(PreferenceSource(str(path)))
    assert err.value.line == 2 and err.value.field == "rejected" and "pairs.jsonl" in str(err.value)
    assert len(load_pairs(PreferenceSource(str(path)), on_error="skip")) == 1
    hh = tmp_path / "hh.jsonl"
    hh.write_text(json.dumps({"chosen": "\n\nHuman: a\n\nAssistant: x", "rejected": "\n\nHuman: b\n\nAssistant: y"})
                  + "\n")
    with pytest.raises(DataError, match="share the dialogue"):
        load_pairs(PreferenceSource(str(hh)))


@needs_shared("rm_bench", why="RM-Bench states no licence, so no excerpt is bundled")
def test_shared_rm_bench():
    chat = load_pairs(PreferenceSource(str(SHARED_DATA / "rm_bench" / "chat_filtered.json"), limit=2))
    assert len(chat) == 6 and {p["category"] for p in chat} == {"Chat"}  # 3 styles per record
    safety = load_pairs(PreferenceSource(str(SHARED_DATA / "rm_bench" / "safety-refuse_filtered.json"), limit=1))
    assert {p["category"] for p in safety} == {"Safety"}


def test_gzipped_hh_rlhf_multi_turn():
    hh = load_pairs(PreferenceSource(str(TEST_DATA / "hh_rlhf_harmless_base" / "test_head5.jsonl.gz")))
    assert len(hh) == 5
    multi = [p for p in hh if len(p["conversation"]) > 1]
    assert multi, "the first hh-rlhf records include multi-turn dialogues"
    rec = build_records(multi[:1], both_orders=False, **RENDER)[0]
    assert "[The Start of the Conversation between Chatbot A and the Client]" in rec["prompt"][1]["content"]
    assert "Chatbot A: " + multi[0]["chosen"] in rec["prompt"][1]["content"]


class ScriptedOracle(TextGenerator):
    """Stands in for the remote LLM oracle (not runnable offline): always says A, unless the released retry
    hint names the correct verdict, which it then follows."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def identity(self):
        return {"type": "scripted"}

    def _stream(self, prompts, params):
        for i, p in enumerate(prompts):
            self.calls += 1
            text = p[-1]["content"]
            verdict = "B" if "the correct verdict is [[B]]" in text else "A"
            yield i, f"<type>Chat</type><eval>...</eval>\n<answer>[[{verdict}]]</answer>"


def test_collect_traces_keeps_matching_verdicts_and_retries_with_the_hint(tmp_path):
    pairs = load_pairs(PreferenceSource(str(BUNDLED / "hh_harmless_train.jsonl"), limit=4))
    records = build_records(pairs, both_orders=False, **RENDER)
    kept, stats = collect_traces(records, ScriptedOracle())
    assert stats == {"pairs": 4, "kept_first": 2, "kept_retry": 0, "dropped": 2}
    kept, stats = collect_traces(records, ScriptedOracle(), retry_oracle=ScriptedOracle())
    assert stats["kept_retry"] == 2 and stats["dropped"] == 0
    assert sorted(k["attempt"] for k in kept) == [1, 1, 2, 2]
    # through the DataModule: traces appended to traces_path, cached oracle calls reused on a second prepare
    src = [PreferenceSource(str(BUNDLED / "hh_harmless_train.jsonl"), limit=4)]
    oracle = ScriptedOracle()
    dm = TraceDistillDataModule(pairs=src, val=[], traces_path=str(tmp_path / "traces.jsonl"), oracle=oracle,
                                system_prompt="rm_r1_cor_system_short")
    dm.prepare_data()
    dm.setup("fit")
    assert dm.stats == {"pairs": 4, "with_trace": 2, "without_trace": 2}
    assert all(r["response"].endswith(f"[[{r['label']}]]</answer>") for r in dm.train_records)
    dm2 = TraceDistillDataModule(pairs=src, val=[], traces_path=str(tmp_path / "traces.jsonl"),
                                 oracle=oracle, system_prompt="rm_r1_cor_system_short")
    calls = oracle.calls
    dm2.prepare_data()  # the two failures are asked again, but answered from the oracle cache
    assert oracle.calls == calls


def test_bundled_template_traces_cover_every_training_pair():
    dm = TraceDistillDataModule(system_prompt="rm_r1_cor_system_short")
    dm.setup("fit")
    assert dm.stats["without_trace"] == 0 and len(dm.train_records) == 48
    assert all(r["response"].endswith(f"<answer>[[{r['label']}]]</answer>") for r in dm.train_records)


def test_chat_message_pairs_and_released_rendered_records(tmp_path):
    conv = [{"role": "user", "content": "hi"}]
    chat = {"chosen": conv + [{"role": "assistant", "content": "good"}],
            "rejected": conv + [{"role": "assistant", "content": "bad"}]}
    rendered = {"context_messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}],
                "winner": "model_b"}
    (tmp_path / "chat.jsonl").write_text(json.dumps(chat) + "\n")
    (tmp_path / "rendered.jsonl").write_text(json.dumps(rendered) + "\n"
                                             + json.dumps({**rendered, "winner": "x"}) + "\n")
    pairs = load_pairs(PreferenceSource(str(tmp_path / "chat.jsonl")))
    assert pairs[0]["chosen"] == "good" and pairs[0]["conversation"] == conv
    with pytest.raises(DataError) as err:
        load_pairs(PreferenceSource(str(tmp_path / "rendered.jsonl")))
    assert err.value.line == 2 and err.value.field == "winner"
    recs = build_records(load_pairs(PreferenceSource(str(tmp_path / "rendered.jsonl")), on_error="skip"),
                         both_orders=True, **RENDER)
    assert len(recs) == 1 and recs[0]["label"] == "B" and recs[0]["prompt"] == rendered["context_messages"]


def test_sources_with_the_same_file_name_are_refused(tmp_path):
    from data_modules.preference import load_sources

    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "pairs.jsonl").write_text(json.dumps({"prompt": "q", "chosen": "x", "rejected": "y"}) + "\n")
    with pytest.raises(DataError, match="share a file name"):
        load_sources([PreferenceSource(str(tmp_path / d / "pairs.jsonl")) for d in ("a", "b")])


@pytest.mark.parametrize("name, category", [
    ("chat_hard.jsonl", "Chat-Hard"), ("rewardbench_chat_hard.jsonl", "Chat-Hard"), ("chat-hard.jsonl", "Chat-Hard"),
    ("ChatHard.json", "Chat-Hard"), ("Chat Hard.jsonl", "Chat-Hard"), ("chat.jsonl", "Chat"),
    ("rewardbench_chat.jsonl", "Chat"), ("safety-refuse_filtered.json", "Safety"), ("math_prm.jsonl", "Reasoning"),
    ("chatbot_arena.jsonl", None), ("pairs.jsonl", None)])
def test_category_from_file_name(tmp_path, name, category):
    """Issue 14 item 20: "chat hard" is matched before "chat" in every spelling; whole words only."""
    path = tmp_path / name
    rec = {"prompt": "q", "chosen": "good", "rejected": "bad"}
    path.write_text(json.dumps([rec]) if name.endswith(".json") else json.dumps(rec) + "\n")
    assert {p["category"] for p in load_pairs(PreferenceSource(str(path)))} == {category or "all"}
