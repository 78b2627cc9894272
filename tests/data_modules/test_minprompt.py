"""MinPrompt: greedy dominating set (Algorithm 1) without edges, offline NER, question generation."""

import logging
import random
import tracemalloc

import networkx as nx
import pytest

from data_modules.minprompt import MASK, extract_sentences, generate_questions, load_ner, select_sentences, wba_question
from data_modules.fewshot_qa import resolve_path
from data_modules.sentence_graph import (
    greedy_dominating_set,
    is_dominating_set,
    naive_greedy_dominating_set,
    to_networkx,
)


def _random_instance(seed):
    r = random.Random(seed)
    n, n_ent = r.randint(0, 30), r.randint(1, 15)
    # entity lists may be empty or hold repeats
    return [[r.randrange(n_ent) for _ in range(r.choice([0, 1, 1, 2, 3, 5]))] for _ in range(n)]


@pytest.mark.parametrize("candidates", ["uncovered", "all"])
def test_greedy_equals_naive_greedy_and_dominates(candidates):
    for seed in range(150):
        se = _random_instance(seed)
        graph = to_networkx(se)
        got = greedy_dominating_set(se, candidates=candidates)
        assert got == naive_greedy_dominating_set(graph, candidates=candidates), seed
        assert nx.is_dominating_set(graph, got) and is_dominating_set(se, got)
        if candidates == "uncovered":  # Algorithm 1 removes neighbours from H: an independent set
            assert not any(graph.has_edge(a, b) for a in got for b in got if a < b)


def test_paper_figure_and_isolated_and_ties():
    # Fig. 4.2: sentences 0-2 share "Lakers", 3 shares "Crypto.com Arena" with 2 -> sentence 2 covers all.
    se = [["Lakers"], ["Lakers"], ["Lakers", "Arena"], ["Arena"]]
    assert greedy_dominating_set(se) == [2]
    # isolated sentences (no entity, or an entity nobody else mentions, or a repeat) dominate themselves
    assert greedy_dominating_set([[], ["x", "x"], ["a"], ["a"]]) == [2, 0, 1]
    # ties go to the lowest index
    assert greedy_dominating_set([["a"], ["a"], ["b"], ["b"]]) == [0, 2]
    assert greedy_dominating_set([]) == []


def test_never_materialises_the_edges():
    # one entity shared by 5,000 sentences = ~12.5M edges; the incidence is ~10,000 integers
    se = [["hub", f"own{i % 50}"] for i in range(5_000)] + [["lonely"]]
    tracemalloc.start()
    got = greedy_dominating_set(se)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert got == [0, 5_000] and is_dominating_set(se, got)
    assert peak < 20 * 2**20  # the materialised edges would need gigabytes
    with pytest.raises(ValueError, match="max_edges"):
        to_networkx(se)


TEST_TEXT = "Santa Clara is in California. It hosted a game in 2016. Denver won it because of a strong defense."


@pytest.fixture(scope="module")
def nlp(tmp_path_factory):
    # the bundled gazetteer's entries that occur in the texts used here (building all 34,879 takes seconds)
    from data_modules.qa import read_qa

    text = TEST_TEXT + " ".join(r["context"] for r in read_qa(resolve_path("samples:qa/squad_train_pool.json"))[0])
    lines = [x for x in resolve_path("samples:qa/gazetteer_en.tsv").read_text(encoding="utf-8").splitlines()
             if x.split("\t")[0] in text]
    gaz = tmp_path_factory.mktemp("gaz") / "gazetteer.tsv"
    gaz.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_ner("a_pipeline_that_is_not_installed", gaz)


def test_missing_spacy_model_falls_back_with_a_warning(caplog, tmp_path):
    gaz = tmp_path / "g.tsv"
    gaz.write_text("Paris\tGPE\n\nRome\tGPE\n")
    with caplog.at_level(logging.WARNING):
        small = load_ner("en_core_web_nonexistent", gaz)
    assert "not installed" in caplog.text
    assert "entity_ruler" in small.pipe_names and "sentencizer" in small.pipe_names
    assert "blank line" in caplog.text  # the gazetteer's blank line is counted, not silently dropped
    assert [(e.text, e.label_) for e in small("From Paris to Rome.").ents] == [("Paris", "GPE"), ("Rome", "GPE")]
    with pytest.raises(ValueError, match="gazetteer"):
        load_ner("en_core_web_nonexistent", None)


def test_sentences_and_entities_from_the_offline_pipeline(nlp):
    ctx = [TEST_TEXT]
    sents = extract_sentences(ctx, nlp)
    assert len(sents) == 3
    for s in sents:
        assert ctx[0][s["start"]:s["end"]] == s["text"]
        for a, b, text, _ in s["entities"]:
            assert s["text"][a:b] == text
    labels = {(e[2], e[3]) for s in sents for e in s["entities"]}
    assert {("Santa Clara", "GPE"), ("California", "GPE"), ("2016", "DATE"), ("Denver", "GPE")} <= labels


def test_question_generation_formats():
    assert wba_question("Lakers play at Staples Center.", 15, 29, "where") == "Where Lakers play at?"
    assert wba_question("Shakira wrote the song.", 0, 7, "who") == "Who wrote the song?"
    # issue 14 item 9: B's leading punctuation (and A's trailing comma) never reaches the question
    game = "The game, played in Santa Clara, was close."
    s = game.index("Santa Clara")
    assert wba_question(game, s, s + len("Santa Clara"), "where") == "Where was close, The game, played in?"
    assert wba_question("In 2016, Denver won.", 3, 7, "when") == "When Denver won, In?"
    assert wba_question("Denver; a city.", 0, 6, "where") == "Where a city?"
    ctx = "Shakira wrote Waka Waka in 2010."
    sents = [{"context_index": 0, "start": 0, "end": len(ctx), "text": ctx,
              "entities": [[0, 7, "Shakira", "PERSON"], [27, 31, "2010", "DATE"]]}]
    qs = generate_questions(sents, [0], [ctx], ["c0"], style="wba", wh_table={"DATE": ["when"]},
                            clause_questions=False)
    assert [(q["question"], q["answers"]) for q in qs] == [
        ("Who wrote Waka Waka in 2010?", ["Shakira"]), ("When Shakira wrote Waka Waka in?", ["2010"])]
    assert qs[0]["context"] == "<mask> wrote Waka Waka in 2010." and qs[0]["answer_starts"] == [-1]
    cloze = generate_questions(sents, [0], [ctx], ["c0"], style="cloze", mask_answer_in_context=False,
                               clause_questions=False)
    assert cloze[1]["question"] == f"Shakira wrote Waka Waka in {MASK}." and cloze[1]["answer_starts"] == [27]
    assert cloze[1]["context"] == ctx
    why = generate_questions([{**sents[0], "entities": [], "text": "They won because the defense held firm.",
                               "end": 39}], [0], ["They won because the defense held firm."], ["c"])
    assert [(q["question"], q["answers"]) for q in why] == [("Why they won?", ["the defense held firm"])]


def test_selection_modes_on_real_sample(nlp):
    from data_modules.qa import read_qa

    recs, _ = read_qa(resolve_path("samples:qa/squad_train_pool.json"))
    contexts = list(dict.fromkeys(r["context"] for r in recs))
    sents = extract_sentences(contexts, nlp)
    dom = select_sentences(sents, selection="dominating")
    keys = [[(e[2], e[3]) for e in s["entities"]] for s in sents]
    full = greedy_dominating_set(keys)
    assert set(dom) == {i for i in full if sents[i]["entities"]} and is_dominating_set(keys, full)
    rnd = select_sentences(sents, selection="random", seed=1)
    assert len(rnd) == len(dom) and rnd != dom
    strict = select_sentences(sents, keep_isolated=False)
    assert set(strict) < set(dom)
    qs = generate_questions(sents, dom, contexts, [str(i) for i in range(len(contexts))], clause_questions=False)
    assert len(qs) == sum(len(sents[i]["entities"]) for i in dom)  # one QA pair per entity


def test_augmentation_cache_key_follows_the_pipeline_that_loads(tmp_path):
    """issue 14 item 4: the same ``ner_pipeline`` option can load the gazetteer fallback (not installed) or a
    real pipeline; the MinPrompt cache key must change with what loads, not stay on the option's name."""
    import spacy

    from data_modules.fewshot_qa import FewShotQADataModule, MinPromptOptions

    pipe = tmp_path / "my_ner"
    dm = FewShotQADataModule(augmentation="minprompt", cache_dir=str(tmp_path / "cache"),
                             minprompt=MinPromptOptions(ner_pipeline=str(pipe)))
    fallback_key = dm._aug_key()  # the directory does not exist yet: gazetteer fallback
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.to_disk(pipe)
    assert dm._aug_key() != fallback_key
