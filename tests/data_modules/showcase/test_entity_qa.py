"""The entity-QA showcase world: bundled files are the generator's output, held-out facts are new, spans hold."""

from __future__ import annotations

import json

from data_modules.cloze import EntityMatcher
from data_modules.io import samples_dir
from data_modules.qa import read_qa
from data_modules.showcase.entity_qa import (
    SPLITS,
    corpus_lines,
    generate,
    passage_facts,
)

BUNDLED = samples_dir() / "showcase" / "entity_qa"


def _paragraphs(doc: dict) -> list[dict]:
    return doc["data"][0]["paragraphs"]


def test_bundled_files_are_the_generators_output():
    docs = generate(0)
    for split in SPLITS:
        assert json.loads((BUNDLED / f"{split}.json").read_text()) == docs[split]
    assert (BUNDLED / "corpus.txt").read_text() == "".join(line + "\n" for line in corpus_lines(docs["train_pool"]))


def test_no_held_out_fact_or_passage_is_in_the_train_pool():
    docs = generate(0)
    pool = _paragraphs(docs["train_pool"])
    pool_facts = set().union(*(passage_facts(p) for p in pool))
    pool_text = (BUNDLED / "corpus.txt").read_text()  # what the tokenizer and any augmentation can see
    for split in ("dev", "test"):
        held = _paragraphs(docs[split])
        assert held and not set().union(*(passage_facts(p) for p in held)) & pool_facts
        assert not {p["context"] for p in held} & {p["context"] for p in pool}
        for p in held:  # the facts' sentences, as written, never occur in the training text
            assert not [s for s in p["context"].split(". ") if s.rstrip(".") + "." in pool_text]
    dev_facts = set().union(*(passage_facts(p) for p in _paragraphs(docs["dev"])))
    assert not dev_facts & set().union(*(passage_facts(p) for p in _paragraphs(docs["test"])))


def test_answers_are_gazetteer_entity_spans_of_their_passage():
    matcher = EntityMatcher(samples_dir() / "qa" / "gazetteer_en.tsv")
    for split in SPLITS:
        records, stats = read_qa(BUNDLED / f"{split}.json")  # answer offsets are checked by the reader
        assert stats.n_skipped == 0 and records
        for rec in records[:40]:
            spans = {rec["context"][s:e] for s, e, _ in matcher.find(rec["context"])}
            assert rec["answers"][0] in spans
    sizes = {s: len(read_qa(BUNDLED / f"{s}.json")[0]) for s in SPLITS}
    assert sizes == {"train_pool": 1000, "dev": 32, "test": 120}
