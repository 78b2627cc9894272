"""Synthetic co-mention incidence with a target node/edge count (HotpotQA: 417,895 sentences, 766,206,565 edges)."""

from __future__ import annotations

import numpy as np


def zipf_probs(n_entities: int, s: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n_entities + 1, dtype=np.float64) ** s
    return w / w.sum()


def expected_pairs(n_mentions: int, probs: np.ndarray) -> float:
    lam = n_mentions * probs
    return float((lam * lam / 2).sum())  # E[C(X, 2)] for X ~ Poisson(lam)


def synthetic_sentence_entities(n_sentences: int, target_pairs: float, *, mean_mentions: float = 3.5,
                                n_entities: int | None = None, seed: int = 0) -> list[np.ndarray]:
    """Sentences with Poisson(mean_mentions) entity mentions drawn from a Zipf law whose exponent is tuned
    so that Σ_e C(|S(e)|, 2) is about ``target_pairs``."""
    rng = np.random.default_rng(seed)
    n_entities = n_entities or max(10, n_sentences // 2)
    counts = rng.poisson(mean_mentions, n_sentences)
    m = int(counts.sum())
    lo, hi = 0.0, 3.0
    for _ in range(50):  # bisection on the exponent
        mid = (lo + hi) / 2
        if expected_pairs(m, zipf_probs(n_entities, mid)) < target_pairs:
            lo = mid
        else:
            hi = mid
    ents = rng.choice(n_entities, size=m, p=zipf_probs(n_entities, (lo + hi) / 2)).astype(np.int32)
    return np.split(ents, np.cumsum(counts)[:-1])
