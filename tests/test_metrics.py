"""SQuAD v1.1 F1/EM: hand cases from the official script's definition, and agreement with torchmetrics."""

import importlib
import random

import pytest

from lit_agents.metrics import SquadF1EM, normalize_answer, qa_scores, squad_exact_match, squad_f1

tm_squad = importlib.import_module("torchmetrics.functional.text.squad")  # the package re-exports a function


def test_normalisation_matches_official_order():
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert normalize_answer("Theory") == "theory"  # articles only as whole words
    assert normalize_answer("the-end") == "theend"  # punctuation removed before splitting


def test_hand_cases():
    assert squad_f1("Denver Broncos", "the Denver Broncos") == 1.0
    assert squad_f1("Broncos", "Denver Broncos") == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert squad_f1("the cat sat on the mat", "cat on mat") == pytest.approx(2 * (3 / 4) * 1 / (3 / 4 + 1))
    assert squad_f1("x y x", "x x z") == pytest.approx(2 / 3)  # bag of words: counts matter
    assert squad_f1("", "Denver") == 0.0 and squad_f1("the", "a") == 0.0  # v1.1: num_same == 0 -> 0
    assert squad_exact_match("The Broncos.", "broncos") == 1.0
    assert qa_scores("10th", ["10th century", "the 10th"]) == (1.0, 1.0)
    assert qa_scores("century", ["10th century", "the 10th"]) == (pytest.approx(2 / 3), 0.0)
    with pytest.raises(ValueError):
        qa_scores("x", [])


def test_agrees_with_torchmetrics_on_nonempty_answers():
    rng = random.Random(0)
    vocab = ["the", "a", "Denver", "broncos", "won", "Super", "Bowl", "50", "in", "2016", "!", ",", "Santa-Clara"]
    for _ in range(200):
        pred = " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 6)))
        golds = [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 6))) for _ in range(rng.randint(1, 3))]
        if not normalize_answer(pred) or not all(normalize_answer(g) for g in golds):
            continue  # the only place v1.1 and torchmetrics (v2.0 rule) differ
        f1 = max(float(tm_squad._compute_f1_score(pred, g)) for g in golds)
        em = max(float(tm_squad._compute_exact_match_score(pred, g)) for g in golds)
        assert qa_scores(pred, golds) == (pytest.approx(f1), em)


def test_metric_class_means_in_percent():
    m = SquadF1EM()
    m.update(["Denver Broncos", "nothing"], [["Denver Broncos"], ["Carolina"]])
    m.update(["Broncos"], [["Denver Broncos"]])
    out = m.compute()
    assert float(out["em"]) == pytest.approx(100 / 3)
    assert float(out["f1"]) == pytest.approx(100 * (1 + 0 + 2 / 3) / 3, rel=1e-5)


def test_mean_by_id_counts_each_item_once():
    """issue 14 item 5: the shared de-duplication of DistributedSampler's padding repeats."""
    import torch

    from lit_agents.metrics import MeanById, unique_by_id

    m = MeanById()
    m.update([1.0, 0.0], ["a", "b"])
    m.update(1.0, "a")  # the padding repeat of "a" (on another rank under DDP)
    assert float(m.compute()) == 0.5
    m.reset()
    assert torch.isnan(m.compute())
    assert [r["v"] for r in unique_by_id([{"id": "b", "v": 1}, {"id": "a", "v": 2}, {"id": "b", "v": 3}])] == [2, 1]
