"""EntityMatcher (whole words, longest match, case, cache, bad gazetteers) and Gotta cloze examples."""

import pytest

from data_modules.cloze import CLOZE_QUESTION, WHAT_QUESTION, EntityMatcher, make_cloze_examples
from data_modules.qa import read_qa
from data_modules.fewshot_qa import resolve_path
from lit_agents.fileio import DataError


def _gaz(tmp_path, lines, name="gaz.tsv"):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def _texts(matcher, text):
    return [(text[s:e], t) for s, e, t in matcher.find(text)]


def test_whole_words_only_and_longest_match_wins(tmp_path):
    m = EntityMatcher(_gaz(tmp_path, ["York\tGPE", "New York\tGPE", "New York City\tGPE", "Or", "Yorkers",
                                      "City Hall\tFAC"]))
    text = "New Yorkers love New York City Hall; Oregon is far. York, or New York."
    # "New York" inside "New Yorkers" is not a whole word; "Or" inside "Oregon" is not either;
    # "New York City" beats "New York"/"York"; "City Hall" overlaps it and is shorter, so it loses.
    assert _texts(m, text) == [("Yorkers", "ENTITY"), ("New York City", "GPE"), ("York", "GPE"),
                               ("New York", "GPE")]


def test_longest_match_even_when_it_starts_later(tmp_path):
    m = EntityMatcher(_gaz(tmp_path, ["Bank of", "of America Corp"]))
    assert _texts(m, "Bank of America Corp") == [("of America Corp", "ENTITY")]


def test_case_option(tmp_path):
    g = _gaz(tmp_path, ["Paris\tGPE"])
    assert _texts(EntityMatcher(g), "paris and PARIS and Paris") == [("Paris", "GPE")]
    assert _texts(EntityMatcher(g, case_sensitive=False), "paris and Paris") == [("paris", "GPE"), ("Paris", "GPE")]


def test_blank_lines_are_counted_or_raise(tmp_path):
    g = _gaz(tmp_path, ["Paris\tGPE", "", "   ", "Rome\tGPE", "Paris\tORG", "X"])
    m = EntityMatcher(g)
    assert len(m) == 2
    assert m.stats.skipped == {"blank line": 2, "duplicate entry": 1, "shorter than 2 chars": 1}
    with pytest.raises(DataError) as err:
        EntityMatcher(g, on_blank="raise")
    assert err.value.line == 2 and err.value.field == "entity"


def test_non_utf8_gazetteer_names_the_line(tmp_path):
    p = tmp_path / "bad.tsv"
    p.write_bytes(b"Paris\tGPE\nS\xe3o Paulo\tGPE\n")
    with pytest.raises(DataError) as err:
        EntityMatcher(p)
    assert err.value.line == 2 and "UTF-8" in str(err.value)


def test_cache_is_keyed_by_content_and_validated(tmp_path):
    g = _gaz(tmp_path, ["Paris\tGPE", "New York\tGPE"])
    cache = tmp_path / "cache"
    first = EntityMatcher(g, cache_dir=cache)
    second = EntityMatcher(g, cache_dir=cache)
    assert not first.loaded_from_cache and second.loaded_from_cache
    text = "From Paris to New York."
    assert second.find(text) == first.find(text)
    # a corrupted automaton file fails its checksum and is rebuilt, not loaded
    auto = next(cache.glob("*.automaton"))
    auto.write_bytes(auto.read_bytes()[:-8] + b"\x00" * 8)
    third = EntityMatcher(g, cache_dir=cache)
    assert not third.loaded_from_cache and third.find(text) == first.find(text)
    # a changed gazetteer gets another key
    _gaz(tmp_path, ["Rome\tGPE"])
    assert EntityMatcher(g, cache_dir=cache).key != first.key
    assert len(list(cache.glob("*.automaton"))) == 2


def test_cloze_masks_exactly_the_matched_span(tmp_path):
    m = EntityMatcher(_gaz(tmp_path, ["Denver\tGPE", "Santa Clara\tGPE", "California\tGPE"]))
    ctx = "The Denver Broncos played at Santa Clara, California."
    recs = [{"id": "q1", "context": ctx}, {"id": "q2", "context": ctx}]  # same context: cloze made once
    out = make_cloze_examples(recs, m, mask_token="<mask>")
    assert [o["answers"][0] for o in out] == ["Denver", "Santa Clara", "California"]
    for o in out:
        s, e = o["span"]
        assert o["context"] == ctx[:s] + "<mask>" + ctx[e:] and ctx[s:e] == o["answers"][0]
        assert o["question"] == CLOZE_QUESTION and o["source_id"] == "q1"
    assert {o["question"] for o in make_cloze_examples(recs, m, variant="what")} == {WHAT_QUESTION}


def test_random_variant_masks_word_spans_of_the_same_length(tmp_path):
    m = EntityMatcher(_gaz(tmp_path, ["Santa Clara\tGPE", "Denver\tGPE"]))
    ctx = "The Denver Broncos played at Santa Clara, in the year (after) the merger."
    a = make_cloze_examples([{"id": "q", "context": ctx}], m, variant="random", seed=3)
    b = make_cloze_examples([{"id": "q", "context": ctx}], m, variant="random", seed=3)
    assert a == b and len(a) == 2
    for o, n in zip(a, (1, 2)):  # Denver (1 word), Santa Clara (2 words)
        s, e = o["span"]
        assert len(ctx[s:e].split()) == n and o["answers"] == [ctx[s:e]]
        assert ctx[s].isalnum() and ctx[e - 1].isalnum()  # no punctuation at the span's edges
        assert (s == 0 or not ctx[s - 1].isalnum()) and (e == len(ctx) or not ctx[e].isalnum())


def test_bundled_gazetteer_finds_entities_in_real_squad_context():
    m = EntityMatcher(resolve_path("samples:qa/gazetteer_en.tsv"))
    recs, _ = read_qa(resolve_path("samples:qa/squad_train_pool.json"))
    found = {t for t, _ in _texts(m, recs[0]["context"])}
    assert {"Denver", "Santa Clara", "California"} <= found
