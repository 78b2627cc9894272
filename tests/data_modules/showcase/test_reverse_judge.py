"""The RM-R1 showcase pairs: bundled files are the generator's output, no held-out question is in train, the
traces are correct judgments keyed as the training records are, and the data modules read them."""

from __future__ import annotations

import json

import pytest

from data_modules.io import samples_dir
from lit_agents.fileio import DataError
from data_modules.preference import PreferenceSource, build_records, load_sources
from data_modules.rm_r1_traces import TraceDistillDataModule
from data_modules.showcase.reverse_judge import SPLITS, check_no_leak, cor_trace, generate, trace_rows
from lit_agents.prompts import load_prompt
from lit_agents.rewards import parse_verdict

BUNDLED = samples_dir() / "showcase" / "rm_r1"


def _read(name: str) -> list[dict]:
    return [json.loads(line) for line in (BUNDLED / name).read_text().splitlines()]


def test_bundled_files_are_the_generators_output():
    splits = generate(0)
    for split in SPLITS:
        assert _read(f"{split}.jsonl") == splits[split]
    assert _read("traces_cor.jsonl") == trace_rows(splits["train"], "train.jsonl", label_only=False)
    assert _read("traces_label_only.jsonl") == trace_rows(splits["train"], "train.jsonl", label_only=True)


def test_no_held_out_question_is_in_train_and_the_check_catches_a_leak():
    splits = generate(0)
    train = {r["word"] for r in splits["train"]}
    for split in ("dev", "test"):
        assert splits[split] and not {r["word"] for r in splits[split]} & train
    leaked = {**splits, "test": splits["test"] + splits["train"][:1]}
    with pytest.raises(DataError, match="test question"):
        check_no_leak(leaked)


def test_every_pair_has_one_right_answer_and_the_traces_judge_it():
    for split in generate(0).values():
        for r in split:
            assert r["chosen"] == r["word"][::-1] != r["rejected"]
    assert parse_verdict(cor_trace("abc", "cba", "abc")) == "A"
    assert parse_verdict(cor_trace("abc", "cbx", "cba")) == "B"
    with pytest.raises(ValueError, match="exactly one"):
        cor_trace("abc", "cba", "cba")


def test_traces_match_the_training_records_and_their_labels():
    render = dict(system_prompt=load_prompt("rm_r1_cor_system_reasoning"), prompt_format="text")
    pairs = load_sources([PreferenceSource(str(BUNDLED / "train.jsonl"), format="pairs")])
    records = build_records(pairs, both_orders=False, **render)
    traces = {(t["pair_id"], t["order"]): t["trace"] for t in _read("traces_cor.jsonl")}
    assert len(records) == len(traces) == SPLITS["train"]
    for r in records:
        assert parse_verdict(traces[(r["pair_id"], r["order"])]) == r["label"]


def test_trace_datamodule_reads_a_separate_test_split():
    dm = TraceDistillDataModule(
        pairs=[PreferenceSource(str(BUNDLED / "train.jsonl"), format="pairs")],
        traces_path=str(BUNDLED / "traces_cor.jsonl"),
        val=[PreferenceSource(str(BUNDLED / "dev.jsonl"), format="pairs")],
        test=[PreferenceSource(str(BUNDLED / "test.jsonl"), format="pairs")],
        system_prompt="rm_r1_cor_system_reasoning", prompt_format="text")
    dm.setup("fit")
    assert dm.stats == {"pairs": 1000, "with_trace": 1000, "without_trace": 0}
    assert len(dm.val_records) == 2 * SPLITS["dev"] and len(dm.test_records) == 2 * SPLITS["test"]
    assert {r["order"] for r in dm.test_records} == {"chosen_A", "chosen_B"}
