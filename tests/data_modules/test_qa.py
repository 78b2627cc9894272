"""QA readers (SQuAD json, MRQA jsonl), bad input, few-shot sampling and Splinter-style files."""

import json

import pytest

from data_modules.qa import read_mrqa, read_qa, read_squad, resolve_presampled, sample_few_shot
from data_modules.fewshot_qa import FewShotQADataModule, resolve_path
from lit_agents.fileio import DataError
from tests.helpers import SHARED_DATA, needs_shared

SQUAD_PART1 = SHARED_DATA / "squad_v1.1_dev" / "dev-v1.1_part1.json"
NEWSQA = resolve_path("samples:qa/newsqa_sample.jsonl")


def _squad(tmp_path, qas, context="Paris is the capital of France."):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [
        {"context": context, "qas": qas}]}]}))
    return p


def test_bundled_squad_samples_spans_match():
    for name, n in (("squad_train_pool.json", 369), ("squad_dev.json", 59), ("squad_test.json", 60)):
        recs, stats = read_squad(resolve_path(f"samples:qa/{name}"))
        assert len(recs) == n and stats.n_skipped == 0  # data_modules/samples/qa/SOURCE.md
        for r in recs:
            for text, start in zip(r["answers"], r["answer_starts"]):
                assert r["context"][start:start + len(text)] == text


@needs_shared("squad_v1.1_dev", "dev-v1.1_part1.json")
def test_squad_real_half_is_complete_and_spans_match():
    recs, stats = read_squad(SQUAD_PART1)
    assert len(recs) == 4961 and stats.n_skipped == 0  # SOURCE.md: 24 articles, 4,961 questions
    for r in recs[:500]:
        for text, start in zip(r["answers"], r["answer_starts"]):
            assert r["context"][start:start + len(text)] == text


def test_mrqa_reader_uses_inclusive_char_spans():
    recs, stats = read_mrqa(NEWSQA)
    assert len(recs) == 17 and stats.n_skipped == 0  # SOURCE.md: 3 contexts, 17 questions
    r = recs[0]
    assert r["answers"][0] == "three different videos" and r["answer_starts"][0] == 1152
    assert r["context"][1152:1152 + len("three different videos")] == "three different videos"


def test_mrqa_header_line_is_skipped(tmp_path):
    lines = [json.dumps({"header": {"dataset": "SQuAD", "split": "train"}}),
             json.dumps({"context": "Bob lives in Paris.", "qas": [{"qid": "q1", "question": "Where?",
                         "answers": ["Paris"], "detected_answers": [{"text": "Paris", "char_spans": [[13, 17]]}]}]})]
    p = tmp_path / "squad-train-seed-42-num-examples-16.jsonl"
    p.write_text("\n".join(lines) + "\n")
    recs, _ = read_qa(p)
    assert [(r["id"], r["answers"], r["answer_starts"]) for r in recs] == [("q1", ["Paris"], [13])]


def test_answer_outside_context_raises_or_is_counted(tmp_path):
    p = _squad(tmp_path, [{"id": "a", "question": "Capital?", "answers": [{"text": "Berlin", "answer_start": 0}]},
                          {"id": "b", "question": "Capital?", "answers": [{"text": "Paris", "answer_start": 0}]}])
    with pytest.raises(DataError) as err:
        read_squad(p)
    assert err.value.field == "answers" and "question id a" in str(err.value) and str(p) in str(err.value)
    recs, stats = read_squad(p, on_error="skip")
    assert [r["id"] for r in recs] == ["b"] and stats.skipped == {"answer span not in context": 1}


def test_empty_question_raises(tmp_path):
    p = _squad(tmp_path, [{"id": "a", "question": "  ", "answers": [{"text": "Paris", "answer_start": 0}]}])
    with pytest.raises(DataError, match="empty question") as err:
        read_squad(p)
    assert err.value.field == "question"


def test_non_utf8_bytes_name_the_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    good = json.dumps({"context": "Bob is here.", "qas": []})
    p.write_bytes(good.encode() + b"\n" + b'{"context": "caf\xe9 ", "qas": []}\n')
    with pytest.raises(DataError) as err:
        read_mrqa(p)
    assert err.value.line == 2 and "UTF-8" in str(err.value)


def test_malformed_json_line_is_located(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"context": "x", "qas": []}\n{"context": \n')
    with pytest.raises(DataError) as err:
        read_mrqa(p)
    assert err.value.line == 2


def test_few_shot_sampling_is_seeded_and_distinct():
    recs, _ = read_qa(resolve_path("samples:qa/squad_train_pool.json"))
    for k in (16, 32, 64, 128):
        a, b = sample_few_shot(recs, k, 42), sample_few_shot(recs, k, 42)
        assert [r["id"] for r in a] == [r["id"] for r in b]
        assert len({r["id"] for r in a}) == k
    assert [r["id"] for r in sample_few_shot(recs, 16, 43)] != [r["id"] for r in sample_few_shot(recs, 16, 42)]
    with pytest.raises(ValueError, match="only"):
        sample_few_shot(recs, len(recs) + 1, 0)


def test_datamodule_reads_splinter_presampled_file(tmp_path):
    recs, _ = read_mrqa(NEWSQA)
    for seed in (42, 43):
        path = resolve_presampled(str(tmp_path / "newsqa-train-seed-{seed}-num-examples-{k}.jsonl"), seed=seed, k=4)
        with open(path, "w") as f:
            f.write(json.dumps({"header": {"dataset": "NewsQA"}}) + "\n")
            for r in recs[seed - 42:seed - 42 + 4]:
                f.write(json.dumps({"context": r["context"], "qas": [{"qid": r["id"], "question": r["question"],
                                    "answers": r["answers"][:1]}]}) + "\n")
    dm = FewShotQADataModule(train_file=str(tmp_path / "newsqa-train-seed-{seed}-num-examples-{k}.jsonl"),
                             val_file=str(NEWSQA), test_file=None, num_examples=4, sample_seed=43,
                             augmentation="none", cache_dir=str(tmp_path / "cache"))
    dm.setup("fit")
    assert [r["id"] for r in dm.train_records] == [r["id"] for r in recs[1:5]]
    assert len(dm.val_records) == 17
