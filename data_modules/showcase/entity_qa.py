"""Entity-QA world for the Gotta / MinPrompt showcase: extractive QA whose answers are gazetteer entities.

A fictional world is drawn (seeded) from the bundled gazetteer (``samples/qa/gazetteer_en.tsv``): companies
(its S&P 500 names), cities (its world-city names) and countries. Each passage states four facts (two
companies' home cities, one city's country, a rivalry), each twice in different words, shuffled::

    Brix is a rival of Acme. Acme is based in Lyon. Peru is the country of Lyon. The offices of Brix are in
    Oslo. Lyon is a city in Peru. Acme competes with Brix. Brix is based in Oslo. The offices of Acme are in Lyon.

Questions ("Where is Acme based?", "Which country is Lyon in?", "Which company competes with Acme?", ...) are
answered by an entity span of the passage. The world is small (40 companies, 60 cities, 30 countries, shared by
all splits) but its facts are drawn afresh per passage, and no fact of a dev or test passage is stated anywhere
in the train pool: a memorised association ("Acme -> Lyon") is useless, the answer must be read off the
passage, which is the skill the entity-aware cloze (Gotta) and the dominating-set questions (MinPrompt)
practise on the training text.

Written as SQuAD v1.1 json (``read_qa`` reads it), plus ``corpus.txt`` (the train pool's text, for the tiny
BPE tokenizer); regenerate the bundled files with
``python -m data_modules.showcase.entity_qa --out data_modules/samples/showcase/entity_qa``.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from data_modules.cloze import GazetteerStats, iter_gazetteer
from data_modules.io import samples_dir
from data_modules.showcase import generator_main
from lit_agents.fileio import atomic_write_text

_CLEAN = re.compile(r"^[A-Z][a-z]+( [A-Z][a-z]+)?$")  # one or two plain capitalised words
SPLITS = ("train_pool", "dev", "test")


def gazetteer_entities(path: Path | None = None) -> dict[str, list[str]]:
    """Countries, companies and cities of the bundled gazetteer, restricted to plain 4-14 letter names.

    The gazetteer lists countries first, then companies (ORG), then cities (GPE after the ORG block)."""
    path = path or samples_dir() / "qa" / "gazetteer_en.tsv"
    out: dict[str, list[str]] = {"country": [], "company": [], "city": []}
    seen_org = False
    for _, name, etype in iter_gazetteer(path, GazetteerStats(str(path))):
        kind = "company" if etype == "ORG" else ("city" if seen_org else "country")
        seen_org = seen_org or etype == "ORG"
        if _CLEAN.match(name) and 4 <= len(name) <= 14:
            out[kind].append(name)
    taken: set[str] = set()
    for kind in ("country", "company", "city"):  # a name belongs to one kind only
        out[kind] = sorted({n for n in out[kind] if n not in taken})
        taken.update(out[kind])
    return out


def world_entities(entities: dict[str, list[str]], seed: int,
                   sizes: dict[str, int] | None = None) -> dict[str, list[str]]:
    """The world's entities (seeded subsample per kind), shared by every split."""
    sizes = sizes or {"company": 40, "city": 60, "country": 30}
    rng = random.Random(seed)
    return {kind: sorted(rng.sample(entities[kind], sizes[kind])) for kind in sizes}


def passage_facts(para: dict) -> set[tuple[str, str, str]]:
    """The (subject, relation, object) facts a generated passage states."""
    return {tuple(f) for f in para["facts"]}


def make_passage(rng: random.Random, ents: dict[str, list[str]], pid: str) -> dict:
    """One SQuAD paragraph: four facts, each stated twice in different words (shuffled), and five questions.

    Every entity mention therefore has a paraphrase elsewhere in the passage: a cloze that masks one mention is
    answered by reading the paraphrase, which is the same skill as answering the questions."""
    c1, c2 = rng.sample(ents["company"], 2)
    x1, x2 = rng.sample(ents["city"], 2)
    k1 = rng.choice(ents["country"])
    facts = [(f"{c1} is based in {x1}.", f"The offices of {c1} are in {x1}."),
             (f"{x1} is a city in {k1}.", f"{k1} is the country of {x1}."),
             (f"{c1} competes with {c2}.", f"{c2} is a rival of {c1}."),
             (f"{c2} is based in {x2}.", f"The offices of {c2} are in {x2}.")]
    sentences = [s for pair in facts for s in pair]
    order = list(range(len(sentences)))
    rng.shuffle(order)
    context = " ".join(sentences[i] for i in order)

    def at(sentence: str, answer: str) -> int:  # offset of the answer inside the given sentence
        return context.index(sentence) + sentence.index(answer)

    qas = [(f"Where is {c1} based?", x1, at(facts[0][0], x1)),
           (f"Which country is {x1} in?", k1, at(facts[1][0], k1)),
           (f"Which company competes with {c1}?", c2, at(facts[2][0], c2)),
           (f"Where is {c2} based?", x2, at(facts[3][0], x2)),
           (f"Which company is based in {x2}?", c2, at(facts[3][0], c2))]
    return {"context": context, "facts": [[c1, "based_in", x1], [x1, "in_country", k1], [c1, "competes", c2],
                                           [c2, "based_in", x2]],
            "qas": [{"id": f"{pid}-q{j}", "question": q, "answers": [{"text": a, "answer_start": s}]}
                    for j, (q, a, s) in enumerate(qas)]}


def generate(seed: int = 0, sizes: dict[str, int] | None = None, questions_per_passage: dict[str, int] | None = None
             ) -> dict[str, dict]:
    """SQuAD json documents ``{split: doc}`` (train pool 200 passages x 5 questions; dev 16 x 2; test 60 x 2).

    Dev and test passages are redrawn until none of their facts is stated anywhere in the train pool (nor in the
    other held-out split): the entities are known, the facts are new, so memorised associations do not help."""
    sizes = sizes or {"train_pool": 200, "dev": 16, "test": 60}
    per = questions_per_passage or {"train_pool": 5, "dev": 2, "test": 2}
    ents = world_entities(gazetteer_entities(), seed)
    docs, seen = {}, set()
    for split in SPLITS:
        rng = random.Random(f"{seed}-{split}")
        paras: list[dict] = []
        while len(paras) < sizes[split]:
            para = make_passage(rng, ents, f"{split}-{len(paras)}")
            facts = passage_facts(para)
            if split != "train_pool" and facts & seen:
                continue
            paras.append(para)
        for para in paras:
            seen |= passage_facts(para)
            para["qas"] = rng.sample(para["qas"], per[split])
        docs[split] = {"version": f"entity_qa-seed{seed}", "data": [{"title": f"entity_qa_{split}",
                                                                      "paragraphs": paras}]}
    return docs


def write(out: Path, seed: int = 0) -> None:
    out.mkdir(parents=True, exist_ok=True)
    docs = generate(seed)
    for split, doc in docs.items():
        atomic_write_text(out / f"{split}.json", json.dumps(doc, ensure_ascii=False, indent=0) + "\n")
    atomic_write_text(out / "corpus.txt", "".join(line + "\n" for line in corpus_lines(docs["train_pool"])))


def corpus_lines(doc: dict) -> list[str]:
    """The train pool's passages and question/answer lines in the prompt format: the BPE tokenizer's training text."""
    lines = ["Question: What is the masked entity? Answer: <mask>. Context: What?"]  # the prompts' own words
    for para in doc["data"][0]["paragraphs"]:
        lines.append(para["context"])
        lines.extend(f"Question: {qa['question']} Answer: {qa['answers'][0]['text']}" for qa in para["qas"])
    return lines


def main(argv: list[str] | None = None) -> int:
    return generator_main(write, samples_dir() / "showcase" / "entity_qa", __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
