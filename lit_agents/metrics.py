"""Evaluation metrics shared by the methods.

QA: SQuAD v1.1 answer normalisation, token F1 and exact match, max over the gold answers -- the definitions of
the official ``evaluate-v1.1.py`` (Rajpurkar et al., 2016), which Gotta/MinPrompt (and Splinter, FewshotQA)
report. One difference from ``torchmetrics.text.SQuAD`` is deliberate: torchmetrics follows the v2.0 script,
where an empty prediction scores F1 = 1 against an empty gold; under v1.1 (used here) ``num_same == 0`` always
gives F1 = 0. Everything else is identical (tests check both).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

import torch
from torchmetrics import Metric

_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(s: str) -> str:
    """Lower-case, remove punctuation, articles (a/an/the) and extra whitespace (official v1.1 order)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def squad_f1(prediction: str, ground_truth: str) -> float:
    """Bag-of-tokens F1 between normalised prediction and gold (official v1.1 ``f1_score``)."""
    pred, gold = normalize_answer(prediction).split(), normalize_answer(ground_truth).split()
    num_same = sum((Counter(pred) & Counter(gold)).values())
    if num_same == 0:
        return 0.0
    precision, recall = num_same / len(pred), num_same / len(gold)
    return 2 * precision * recall / (precision + recall)


def squad_exact_match(prediction: str, ground_truth: str) -> float:
    """1.0 when the normalised strings are equal (official v1.1 ``exact_match_score``)."""
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def qa_scores(prediction: str, ground_truths: Sequence[str]) -> tuple[float, float]:
    """(F1, EM) of one prediction, each the maximum over the gold answers."""
    if not ground_truths:
        raise ValueError("qa_scores needs at least one gold answer")
    return (max(squad_f1(prediction, g) for g in ground_truths),
            max(squad_exact_match(prediction, g) for g in ground_truths))


class SquadF1EM(Metric):
    """Mean SQuAD v1.1 F1 and EM (in %, like the official script) over the updates; DDP-synced sums.

    ``update(predictions, golds)`` takes strings and, for each, the list of gold answers; ``compute()``
    returns ``{"f1": Tensor, "em": Tensor}``."""

    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("f1_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("em_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, predictions: Sequence[str], golds: Sequence[Sequence[str]]) -> None:
        if len(predictions) != len(golds):
            raise ValueError(f"{len(predictions)} predictions but {len(golds)} gold lists")
        for pred, gold in zip(predictions, golds):
            f1, em = qa_scores(pred, gold)
            self.f1_sum += f1
            self.em_sum += em
        self.count += len(predictions)

    def compute(self) -> dict[str, torch.Tensor]:
        n = self.count.clamp(min=1).to(torch.float64)
        return {"f1": (100.0 * self.f1_sum / n).float(), "em": (100.0 * self.em_sum / n).float()}
