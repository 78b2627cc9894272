import json
import shutil

import pytest

from data_modules.mcqa import MCQASource, samples_dir
from data_modules.mcqa_distill import MCQADistillDataModule
from data_modules.rationales import (
    GeneratorTeacher,
    PreCollectedRationales,
    build_teacher_prompt,
    icl_examples,
    parse_rationale,
)
from lit_agents.fileio import DataError
from lit_agents.generation import TextGenerator, TransformersGenerator
from lit_agents.prompts import load_prompt
from tests.helpers import tiny_backbone

CHOICES = ["red", "blue", "green"]


def _ex(i, q=None, ds="d"):
    return {"id": f"q{i}", "dataset": ds, "split": "train", "question": q or f"question {i}?",
            "choices": CHOICES, "answer_index": i % 3, "answer_text": CHOICES[i % 3]}


# ---- parsing ------------------------------------------------------------------------------------------------
def test_parse_strips_prompt_lead_next_example_and_answer_statement():
    prompt = "Question: sky?\nRationale: Let's think step by step."
    raw = prompt + " The sky scatters blue light most. Thus, the answer is (b) blue\n\nQuestion: next one?"
    p = parse_rationale(raw, CHOICES, prompt=prompt)
    assert (p.text, p.label_index, p.status) == ("The sky scatters blue light most.", 1, "ok")
    # the answer stated by text rather than letter
    assert parse_rationale("Grass is green in summer. So the answer is green.", CHOICES).label_index == 2
    # released LLaMA strings start with the CoT trigger and run into a new example
    p = parse_rationale(" Let's think step by step.\nStep 1: the sky is blue.\n#\nQuestion:\nWh", CHOICES)
    assert p.text == "Step 1: the sky is blue.\n#" and p.label_index is None


@pytest.mark.parametrize("raw,status", [
    (None, "missing"), ("", "empty"), ("   \n", "empty"), ("Let's think step by step.", "empty"),
    ("\x00\x13\x7f\x1b\x02ÿ\x10", "unparseable"), ("ab", "unparseable"), ("Thus, the answer is (a) red", "empty"),
    ("tttttttttttttttttttttttttt", "unparseable"),
])
def test_parse_classifies_garbage(raw, status):
    assert parse_rationale(raw, CHOICES).status == status


def test_parse_truncates_at_a_word_boundary():
    p = parse_rationale("one two three four five six", CHOICES, max_chars=12)
    assert p.text == "one two" and p.status == "unparseable"  # two words < min_words=3
    assert parse_rationale("one two three four five six", CHOICES, max_chars=14).text == "one two three"


# ---- prompts ------------------------------------------------------------------------------------------------
def test_in_context_examples_never_include_the_question_itself():
    pool = [_ex(i) for i in range(12)] + [_ex(99, q="question 3?")]  # same text as q3 under another id
    for ex in pool:
        shots = icl_examples(ex, pool, k=5, seed=0)
        assert len(shots) == 5
        assert all(s["id"] != ex["id"] and s["question"] != ex["question"] for s in shots)
        assert shots == icl_examples(ex, list(reversed(pool)), k=5, seed=0)  # independent of pool order
    assert icl_examples(pool[0], pool, k=5, seed=0) != icl_examples(pool[0], pool, k=5, seed=1)
    assert icl_examples(pool[0], pool, k=0, seed=0) == []
    assert icl_examples(pool[0], pool[:2], k=5, seed=0) == [pool[1]]  # fewer candidates than k


def test_teacher_forcing_prompt_holds_the_gold_answer_and_plain_cot_does_not():
    ex, shots = _ex(1), [_ex(2), _ex(3)]
    tf = build_teacher_prompt(ex, shots, teacher_forcing=True, template=load_prompt("tinyllm_teacher_forcing"),
                              example_template=load_prompt("tinyllm_icl_example"))
    assert tf.endswith("Question: question 1?\nOptions: (a) red (b) blue (c) green\nAnswer: (b) blue\n"
                       "Rationale: Let's think step by step.")
    assert tf.startswith("Question: question 2?") and "Answer: (a) red" in tf  # the shots carry their answers
    plain = build_teacher_prompt(ex, [], teacher_forcing=False, template=load_prompt("tinyllm_plain_cot"),
                                 example_template=load_prompt("tinyllm_icl_example"))
    assert "(b) blue\nRationale" not in plain and "Answer: (b) blue" not in plain
    assert plain.endswith("Options: (a) red (b) blue (c) green\nRationale: Let's think step by step.")


# ---- pre-collected teachers ---------------------------------------------------------------------------------
def test_precollected_pairs_by_position_and_splits_the_two_teachers():
    train = MCQASource(name="obqa", train="samples:tinyllm/obqa/obqa_train.json").load()["train"]
    t5 = PreCollectedRationales("t5", teacher="flan_t5").collect(train, {}, None)
    llama = PreCollectedRationales("llama", teacher="llama").collect(train, {}, None)
    assert len(t5) == len(llama) == 80
    first = parse_rationale(t5[0][0], train[0]["choices"])
    assert first.status == "ok" and first.label_index == train[0]["answer_index"]
    assert "llama rationale" not in t5[0][0] and "Thus, the answer is" not in llama[0][0]


def test_precollected_misaligned_files_are_refused(tmp_path):
    root = tmp_path / "tl"
    shutil.copytree(samples_dir() / "tinyllm" / "obqa", root / "obqa")
    cot = root / "obqa" / "llm" / "train_CoT_0.json"
    data = json.loads(cot.read_text())
    cot.write_text(json.dumps(data[1:] + data[:1]))  # one rationale lost at the front: everything shifts
    train = MCQASource(name="obqa", train=str(root / "obqa" / "obqa_train.json")).load()["train"]
    with pytest.raises(DataError, match="paired by position") as e:
        PreCollectedRationales("t5", root=str(root)).collect(train, {}, None)
    assert e.value.line == 1 and "train_CoT_0.json" in str(e.value)


# ---- live teachers: collection, resume, garbage ----------------------------------------------------------------
class CountingTeacher(TransformersGenerator):
    """A real tiny transformers teacher that records the prompts it is asked and can be interrupted."""

    def __init__(self, *a, fail_after: int | None = None, **kw):
        super().__init__(*a, **kw)
        self.seen: list[str] = []
        self.fail_after = fail_after

    def _stream(self, prompts, params):
        for i, text in super()._stream(prompts, params):
            if self.fail_after is not None and len(self.seen) >= self.fail_after:
                raise KeyboardInterrupt("simulated interruption")
            self.seen.append(prompts[i])
            yield i, text


class ScriptedTeacher(TextGenerator):
    """Returns fixed outputs in turn (a teacher that answers with garbage or nothing)."""

    def __init__(self, outputs):
        super().__init__()
        self.outputs = outputs

    def identity(self):
        return {"type": "scripted", "outputs": self.outputs}

    def _stream(self, prompts, params):
        for i, _ in enumerate(prompts):
            yield i, self.outputs[i % len(self.outputs)]


@pytest.fixture(scope="module")
def tiny_teacher_model():
    return tiny_backbone("llama").build()


def _dm(tmp_path, teachers, **kw):
    src = MCQASource(name="obqa", train="samples:tinyllm/obqa/obqa_train.json",
                     val="samples:tinyllm/obqa/obqa_valid.json", max_train=6, max_eval=4)
    return MCQADistillDataModule([src], teachers=teachers, cache_dir=str(tmp_path / "cache"), **kw)


def test_interrupted_collection_resumes_without_repeating_calls(tmp_path, tiny_teacher_model):
    model, tok = tiny_teacher_model
    first = CountingTeacher(model=model, tokenizer=tok, batch_size=2, max_new_tokens=6, fail_after=3)
    dm = _dm(tmp_path, [GeneratorTeacher("tiny", first, k_shot=2, max_new_tokens=6, chunk_size=4)])
    with pytest.raises(KeyboardInterrupt):
        dm.prepare_data()
    assert len(first.seen) == 3 and not (dm.processed_dir / "train.jsonl").exists()
    cache = tmp_path / "cache" / "teacher_tiny.jsonl"
    assert len(cache.read_text().splitlines()) == 3

    second = CountingTeacher(model=model, tokenizer=tok, batch_size=2, max_new_tokens=6)
    dm2 = _dm(tmp_path, [GeneratorTeacher("tiny", second, k_shot=2, max_new_tokens=6, chunk_size=4)])
    dm2.prepare_data()
    assert len(second.seen) == 3 and not set(second.seen) & set(first.seen)  # only the missing prompts
    assert all("Answer: (" in p and p.count("Question:") == 3 for p in first.seen + second.seen)  # TF + 2 shots
    dm2.setup("fit")
    assert len(dm2.splits["train"]) == 6
    counts = dm2.stats["teachers"]["tiny"]
    assert sum(counts[s] for s in ("ok", "empty", "unparseable", "missing")) == 6

    third = CountingTeacher(model=model, tokenizer=tok, batch_size=2, max_new_tokens=6)
    _dm(tmp_path, [GeneratorTeacher("tiny", third, k_shot=2, max_new_tokens=6, chunk_size=4)]).prepare_data()
    assert third.seen == []  # a finished collection is reused as is


def test_garbage_and_empty_teacher_outputs_are_counted_not_fatal(tmp_path):
    outputs = ["", "\x00\x01\x02\x03", "The sky is blue because of scattering. Thus, the answer is (b) x",
               "Let's think step by step.", "zz", "Plants need light to grow well."]
    dm = _dm(tmp_path, [GeneratorTeacher("junk", ScriptedTeacher(outputs), k_shot=0)], label_source="junk")
    dm.prepare_data()
    dm.setup("fit")
    s = dm.stats["teachers"]["junk"]
    assert (s["ok"], s["empty"], s["unparseable"], s["missing"]) == (2, 2, 2, 0)
    assert s["with_label"] == 1 and dm.stats["label_fallback_to_gold"] == 5
    rats = [r["rationales"][0] for r in dm.splits["train"]]
    assert sum(bool(r) for r in rats) == 2  # only usable rationales become targets
    assert dm.splits["train"][2]["target"] == dm.splits["train"][2]["choices"][1]  # KD: the teacher's own label


def test_two_live_teachers_local_seq2seq_and_openai_endpoint(tmp_path, tiny_teacher_model):
    """The paper set-up in miniature: one local seq2seq teacher, one behind an OpenAI-compatible server."""
    from lit_agents.generation import OpenAIGenerator
    from lit_agents.serve import OpenAICompatibleServer

    model, tok = tiny_teacher_model
    server = OpenAICompatibleServer(TransformersGenerator(model=model, tokenizer=tok, max_new_tokens=6),
                                    model_name="tiny-chat").start()
    try:
        local = TransformersGenerator(tiny_backbone("t5"), max_new_tokens=6, batch_size=4)
        remote = OpenAIGenerator("tiny-chat", server.url, endpoint="completions", max_new_tokens=6, max_concurrency=2)
        dm = _dm(tmp_path, [GeneratorTeacher("t5-local", local, max_new_tokens=6),
                            GeneratorTeacher("chat-remote", remote, teacher_forcing=False, max_new_tokens=6)])
        dm.prepare_data()
        assert server.requests_served == 6  # one call per training question
        dm.setup("fit")
    finally:
        server.stop()
    for name in ("t5-local", "chat-remote"):
        s = dm.stats["teachers"][name]
        assert sum(s[k] for k in ("ok", "empty", "unparseable", "missing")) == 6
    assert len((tmp_path / "cache" / "teacher_chat-remote.jsonl").read_text().splitlines()) == 6
    batch = next(iter(dm.train_dataloader()))
    assert len(batch["rationales"][0]) == 2 and batch["input"][0].count("\n(") == 4


def test_processed_cache_keys_data_and_rationale_files_by_content(tmp_path):
    """issue 14 item 4: the TinyLLM processed-data directory (and a pre-collected teacher's identity) follow the
    files' content: the same paths with an edited file get a new key."""
    import shutil

    from data_modules.io import samples_dir

    root = tmp_path / "tinyllm"
    shutil.copytree(samples_dir() / "tinyllm" / "obqa", root / "obqa")
    src = MCQASource(name="obqa", train=str(root / "obqa" / "obqa_train.json"), max_train=6)
    teacher = PreCollectedRationales("flan-t5-xl", root=str(root), teacher="flan_t5")
    dm = MCQADistillDataModule([src], teachers=[teacher], cache_dir=str(tmp_path / "cache"))
    before, ident = dm.fingerprint(), teacher.identity()
    train = root / "obqa" / "obqa_train.json"
    train.write_text(train.read_text().replace("?", " ?", 1))
    assert dm.fingerprint() != before
    rationales = next((root / "obqa" / "llm").glob("train_CoT_*.json"))
    rationales.write_text(rationales.read_text().replace("the", "a", 1))
    assert PreCollectedRationales("flan-t5-xl", root=str(root), teacher="flan_t5").identity() != ident
