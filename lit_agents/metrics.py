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


def unique_by_id(rows: Sequence[dict], key: str = "id") -> list[dict]:
    """Rows with each ``row[key]`` once (the first seen), sorted by it: ``DistributedSampler`` pads the last
    batch with repeats of the first items, which must not count twice."""
    unique: dict = {}
    for r in rows:
        unique.setdefault(r[key], r)
    return [unique[k] for k in sorted(unique)]


class MeanById(torch.nn.Module):
    """Mean of per-item values over the distinct item ids seen on all ranks.

    The one place evaluation de-duplicates the repeats ``DistributedSampler`` adds to make every rank's share
    equal (up to ``world_size - 1`` items would otherwise count twice): ``update(values, ids)``; ``compute()``
    gathers the ``(id, value)`` pairs of every rank (``all_gather_object``: a collective, so every rank calls it,
    in the same order), keeps the first value of each id and averages; NaN when nothing was seen. An
    ``nn.Module`` without parameters or buffers, so it sits in a ``ModuleDict`` and never enters checkpoints.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pairs: list[tuple[str, float]] = []

    def update(self, values: float | Sequence[float] | torch.Tensor, ids: object | Sequence[object]) -> None:
        if isinstance(ids, (str, int)) or not isinstance(ids, Sequence):
            ids, values = [ids], [values]
        vals = torch.as_tensor(values, dtype=torch.float64).reshape(-1).tolist()
        if len(vals) != len(ids):
            raise ValueError(f"MeanById.update: {len(vals)} values for {len(ids)} ids")
        self._pairs.extend((str(i), float(v)) for i, v in zip(ids, vals))

    def compute(self) -> torch.Tensor:
        import torch.distributed as dist

        pairs = self._pairs
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            parts: list = [None] * dist.get_world_size()
            dist.all_gather_object(parts, pairs)
            pairs = [p for part in parts for p in part]
        unique: dict[str, float] = {}
        for i, v in pairs:
            unique.setdefault(i, v)
        if not unique:
            return torch.tensor(float("nan"))
        return torch.tensor(sum(unique.values()) / len(unique), dtype=torch.float32)

    def reset(self) -> None:
        self._pairs = []
