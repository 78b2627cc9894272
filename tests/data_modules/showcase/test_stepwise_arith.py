"""The TinyLLM showcase task and teachers: the bundled files are the generator's output, no held-out question
or computation is in train, every question has its answer among four options, and the scripted teachers write
correct rationales in their own styles that TinyLLM's data module collects and parses."""

from __future__ import annotations

import json

import pytest

from data_modules.io import samples_dir
from data_modules.mcqa import MCQASource
from data_modules.mcqa_distill import MCQADistillDataModule
from data_modules.rationales import GeneratorTeacher, parse_rationale
from data_modules.showcase.arith_teachers import ScriptedArithmeticTeacher
from data_modules.showcase.stepwise_arith import SPLITS, check_no_leak, corpus_lines, generate, parse_question
from lit_agents.fileio import DataError

BUNDLED = samples_dir() / "showcase" / "stepwise_arith"


def _source() -> MCQASource:
    return MCQASource(name="arith", format="jsonl", train=str(BUNDLED / "train.jsonl"),
                      val=str(BUNDLED / "dev.jsonl"), test=str(BUNDLED / "test.jsonl"))


def test_bundled_files_are_the_generators_output():
    splits = generate(0)
    for split in SPLITS:
        rows = [json.loads(line) for line in (BUNDLED / f"{split}.jsonl").read_text().splitlines()]
        assert rows == splits[split]
    assert (BUNDLED / "corpus.txt").read_text() == "".join(line + "\n" for line in corpus_lines())
    assert not any(ch.isdigit() for ch in (BUNDLED / "corpus.txt").read_text())  # every digit stays one token


def test_no_held_out_question_or_computation_is_in_train_and_the_check_catches_a_leak():
    splits = generate(0)
    train = {(r["question"], r["computation"]) for r in splits["train"]}
    for split in ("dev", "test"):
        held = splits[split]
        assert len(held) == SPLITS[split]
        assert not {r["question"] for r in held} & {q for q, _ in train}
        assert not {r["computation"] for r in held} & {c for _, c in train}
    leaked = {**splits, "dev": splits["dev"] + splits["train"][:1]}
    with pytest.raises(DataError, match="dev question"):
        check_no_leak(leaked)


def test_every_question_has_its_answer_and_three_distinct_mistakes():
    for rows in generate(0).values():
        for r in rows:
            p = parse_question(r["question"])
            assert f"{p.start}{p.op1}{p.x}{p.op2}{p.y}" == r["computation"]
            assert len(r["choices"]) == 4 == len(set(r["choices"]))
            assert r["choices"][r["answer_index"]] == str(p.answer)
    with pytest.raises(ValueError, match="not a two-step"):
        parse_question("What is 2 + 2?")


def test_teachers_write_both_steps_in_their_styles_and_reach_the_gold_answer():
    exs = _source().load()["train"][:50]
    pool = {"arith": _source().load()["train"]}
    for style, sample in (("equations", "{s} {o1} {x} = {m}."), ("words", "We start with {s}.")):
        teacher = GeneratorTeacher(style, ScriptedArithmeticTeacher(style), k_shot=2, use_cache=False)
        for ex, (raw, prompt) in zip(exs, teacher.collect(exs, pool, None)):
            assert prompt.count("Question:") == 3 and "Answer: (" in prompt.rsplit("Question:", 1)[1]
            parsed = parse_rationale(raw, ex["choices"], prompt=prompt, min_words=0)
            p = parse_question(ex["question"])
            assert parsed.status == "ok" and parsed.label_index == ex["answer_index"], raw
            assert parsed.text.startswith(sample.format(s=p.start, o1=p.op1, x=p.x, m=p.middle)), raw
            assert str(p.middle) in parsed.text and parsed.text.endswith(f"{p.answer}.")


def test_plain_cot_teacher_slips_at_its_error_rate_and_says_which_answer_it_reached():
    exs = _source().load()["train"]
    teacher = GeneratorTeacher("kd", ScriptedArithmeticTeacher("equations", error_rate=0.25), teacher_forcing=False,
                               use_cache=False)
    parsed = [parse_rationale(raw, ex["choices"], prompt=prompt, min_words=0)
              for ex, (raw, prompt) in zip(exs, teacher.collect(exs, {"arith": exs}, None))]
    right = sum(r.label_index == ex["answer_index"] for r, ex in zip(parsed, exs))
    assert 0.70 <= right / len(exs) <= 0.80
    assert all(r.status == "ok" for r in parsed)
    with pytest.raises(ValueError, match="error_rate"):
        ScriptedArithmeticTeacher(error_rate=1.5)


def test_the_distill_data_module_collects_both_teachers_rationales(tmp_path):
    teachers = [GeneratorTeacher(name, ScriptedArithmeticTeacher(style), use_cache=False)
                for name, style in (("calculator", "equations"), ("tutor", "words"))]
    dm = MCQADistillDataModule([_source()], teachers, cache_dir=str(tmp_path), min_words=0)
    dm.prepare_data()
    dm.setup("fit")
    assert {t: s["ok"] for t, s in dm.stats["teachers"].items()} == {"calculator": 1000, "tutor": 1000}
    first = dm.train_records[0]
    assert first["input"].startswith("Start with") and "Answer Choices:\n(a) " in first["input"]
    assert len(first["rationales"]) == 2 and all(first["rationales"])
    assert len(dm.val_records) == SPLITS["dev"] and len(dm.test_records) == SPLITS["test"]
