import json

import pytest

from data_modules.mcqa import MCQASource, load_mcqa_file, seeded_split, student_input
from lit_agents.fileio import DataError
from tests.helpers import SHARED_DATA, TEST_DATA, needs_shared

TL = SHARED_DATA / "tinyllm_teacher_rationales"


def test_student_input_matches_released_format():
    assert student_input("Q?", ["x", "y", "z"]) == "Q?\nAnswer Choices:\n(a) x\n(b) y\n(c) z"


def test_bundled_tinyllm_sample_reads_all_splits():
    splits = MCQASource(name="obqa", train="samples:tinyllm/obqa/obqa_train.json",
                        val="samples:tinyllm/obqa/obqa_valid.json", test="samples:tinyllm/obqa/obqa_test.json").load()
    assert {k: len(v) for k, v in splits.items()} == {"train": 80, "val": 40, "test": 40}
    ex = splits["train"][0]
    assert ex["choices"][ex["answer_index"]] == ex["answer_text"] and ex["split"] == "train"


@needs_shared("tinyllm_teacher_rationales")
@pytest.mark.parametrize("ds,n", [("obqa", 4957), ("arc", 1117), ("riddle", 3510)])
def test_tinyllm_release_train_files(ds, n):
    exs = load_mcqa_file(TL / ds / f"{ds}_train.json", "tinyllm", dataset=ds)
    assert len(exs) == n
    assert all(e["choices"][e["answer_index"]] == e["answer_text"] for e in exs)


def test_other_formats_normalise_to_the_same_shape_on_bundled_excerpts():
    obqa = load_mcqa_file(TEST_DATA / "openbookqa/openbookqa_head5.jsonl", "ai2", dataset="obqa")
    assert len(obqa) == 5 and obqa[0]["id"] == "8-343" and len(obqa[0]["choices"]) == 4
    adapters = load_mcqa_file(TEST_DATA / "arc_llm_adapters/ARC-Challenge_test_head5.json", "arc_llm_adapters",
                              dataset="arc")
    structured = load_mcqa_file(TEST_DATA / "arc_llm_adapters/ARC-Challenge_test_head5.structured.jsonl", "jsonl",
                                dataset="arc")
    assert len(adapters) == len(structured) == 5
    assert [(a["question"], a["choices"], a["answer_index"]) for a in adapters] == \
        [(s["question"], s["choices"], s["answer_index"]) for s in structured]
    piqa = load_mcqa_file(TEST_DATA / "piqa/valid_head5.jsonl", "piqa", dataset="piqa",
                          labels=TEST_DATA / "piqa/valid-labels_head5.lst")
    assert len(piqa) == 5 and all(len(p["choices"]) == 2 for p in piqa) and piqa[0]["answer_index"] == 0
    pqa = load_mcqa_file(TEST_DATA / "pubmedqa/ori_pqal_head20.json", "pubmedqa", dataset="pubmedqa")
    assert len(pqa) == 20 and pqa[0]["choices"] == ["yes", "no", "maybe"]
    assert pqa[0]["question"].endswith("during programmed cell death?")


@needs_shared("openbookqa")
@needs_shared("arc_llm_adapters")
@needs_shared("piqa")
@needs_shared("pubmedqa")
def test_other_formats_normalise_to_the_same_shape():
    obqa = load_mcqa_file(SHARED_DATA / "openbookqa/openbookqa.jsonl", "ai2", dataset="obqa")
    assert len(obqa) == 500 and obqa[0]["id"] == "8-343" and len(obqa[0]["choices"]) == 4
    adapters = load_mcqa_file(SHARED_DATA / "arc_llm_adapters/ARC-Challenge_test.json", "arc_llm_adapters",
                              dataset="arc")
    structured = load_mcqa_file(SHARED_DATA / "arc_llm_adapters/ARC-Challenge_test.structured.jsonl", "jsonl",
                                dataset="arc")
    assert len(adapters) == len(structured) == 1172
    # our parse of the instruction text agrees with the structured copy on every item
    assert [(a["question"], a["choices"], a["answer_index"]) for a in adapters] == \
        [(s["question"], s["choices"], s["answer_index"]) for s in structured]
    piqa = load_mcqa_file(SHARED_DATA / "piqa/valid.jsonl", "piqa", dataset="piqa",
                          labels=SHARED_DATA / "piqa/valid-labels.lst")
    assert len(piqa) == 1838 and all(len(p["choices"]) == 2 for p in piqa)
    pqa = load_mcqa_file(SHARED_DATA / "pubmedqa/ori_pqal.json", "pubmedqa", dataset="pubmedqa")
    assert len(pqa) == 1000 and pqa[0]["choices"] == ["yes", "no", "maybe"]
    assert pqa[0]["question"].endswith("during programmed cell death?")


def test_pubmedqa_official_test_ids_and_seeded_split_on_an_excerpt():
    src = MCQASource(name="pubmedqa", format="pubmedqa", path=str(TEST_DATA / "pubmedqa/ori_pqal_head20.json"),
                     test_ids=str(TEST_DATA / "pubmedqa/test_ground_truth_head10.json"),
                     split_fractions=(0.9, 0.1, 0.0))
    a, b = src.load(), src.load()
    official = set(json.loads((TEST_DATA / "pubmedqa/test_ground_truth_head10.json").read_text()))
    assert {e["id"] for e in a["test"]} == official and len(official) == 10
    assert len(a["train"]) == 9 and len(a["val"]) == 1
    assert [e["id"] for e in a["train"]] == [e["id"] for e in b["train"]]  # deterministic
    assert not {e["id"] for e in a["train"]} & {e["id"] for e in a["val"]}


@needs_shared("pubmedqa")
def test_pubmedqa_official_test_ids_and_seeded_split():
    src = MCQASource(name="pubmedqa", format="pubmedqa", path=str(SHARED_DATA / "pubmedqa/ori_pqal.json"),
                     test_ids=str(SHARED_DATA / "pubmedqa/test_ground_truth.json"), split_fractions=(0.9, 0.1, 0.0))
    a, b = src.load(), src.load()
    official = set(json.loads((SHARED_DATA / "pubmedqa/test_ground_truth.json").read_text()))
    assert {e["id"] for e in a["test"]} == official
    assert len(a["train"]) == 450 and len(a["val"]) == 50
    assert [e["id"] for e in a["train"]] == [e["id"] for e in b["train"]]  # deterministic
    assert not {e["id"] for e in a["train"]} & {e["id"] for e in a["val"]}


def test_seeded_split_is_disjoint_deterministic_and_order_free():
    exs = [{"id": f"q{i}", "question": f"q{i}?"} for i in range(50)]
    a = seeded_split(exs, (0.6, 0.2, 0.2), seed=3)
    b = seeded_split(list(reversed(exs)), (0.6, 0.2, 0.2), seed=3)
    assert {k: [e["id"] for e in v] for k, v in a.items()} == {k: [e["id"] for e in v] for k, v in b.items()}
    ids = [e["id"] for v in a.values() for e in v]
    assert sorted(ids) == sorted(e["id"] for e in exs) and [len(a[s]) for s in ("train", "val", "test")] == [30, 10, 10]
    assert seeded_split(exs, (0.6, 0.2, 0.2), seed=4)["train"] != a["train"]
    with pytest.raises(ValueError):
        seeded_split(exs, (0.5, 0.2, 0.2), seed=0)


def test_bad_records_name_file_line_and_field(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"question": "ok?", "choices": ["a", "b"], "answer": "a"}\n'
                 '{"question": "bad?", "choices": ["a", "b"], "answer": "c"}\n'
                 '{"question": "worse?", "choices": ["a"], "answer_index": 0}\n')
    with pytest.raises(DataError) as e:
        load_mcqa_file(p, "jsonl", dataset="d")
    assert e.value.line == 2 and e.value.field == "answer" and str(p) in str(e.value)
    kept = load_mcqa_file(p, "jsonl", dataset="d", on_error="skip")
    assert [k["question"] for k in kept] == ["ok?"]


def test_bioasq_official_format_keeps_yes_no_questions(tmp_path, caplog):
    p = tmp_path / "bioasq.json"
    p.write_text(json.dumps({"questions": [
        {"id": "1", "type": "yesno", "body": "Is X a gene?", "exact_answer": "yes",
         "snippets": [{"text": "X is a gene."}]},
        {"id": "2", "type": "factoid", "body": "Which gene?", "exact_answer": [["X"]]},
        {"id": "3", "type": "yesno", "body": "Is Y?", "exact_answer": "No"},
    ]}))
    exs = load_mcqa_file(p, "bioasq", dataset="bioasq")
    assert [(e["id"], e["answer_text"]) for e in exs] == [("1", "yes"), ("3", "no")]
    assert exs[0]["question"] == "X is a gene. \n Is X a gene?"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"questions": [{"id": "4", "type": "yesno", "body": "Is Z?", "exact_answer": "maybe"}]}))
    with pytest.raises(DataError, match="not one of the choices"):
        load_mcqa_file(bad, "bioasq", dataset="bioasq")
