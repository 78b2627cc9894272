"""Rewards: PlayBest's possession event table (dissertation ch. 7) and ReLiable's shaped shot reward (ch. 6).

ReLiable (§6.5.1.3): ``Reward = score + (24 - shot_clock)/24 + game_clock * NB(5, 2/3)``.
The chapter says the negative binomial "has a probability mass function with a peak at k = 6" where k is the
score difference. Of the usual conventions only "k = number of trials until the r-th success, success
probability p" has its mode there (pmf(6) = pmf(7) = 0.2195 for r = 5, p = 2/3); "failures before r successes"
peaks at 1-2 (scipy's nbinom) or 7-8 (torch's, which counts successes), so we use the trials convention:
NB(k) = C(k-1, r-1) p^r (1-p)^(k-r) for k >= r, else 0, with k = |score_diff|.
"game_clock" must make the term larger "closer to the end of a tight game", so it enters as the fraction of
the period already played, ``1 - clock_remaining / period_length`` in [0, 1] (ours: the chapter leaves the
scale implicit; raw seconds would swamp the score term by two orders of magnitude).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

EVENT_REWARDS: dict[str, float] = {
    "3pt_made": 3.0, "2pt_made": 2.0, "ft_made": 1.0, "rebound": 0.25,
    "foul": -0.25, "violation": -0.25, "turnover": -1.0,
}
"""PlayBest's table (METHODS.md §7): any other kind ('miss', 'ft_miss', 'defensive_foul', ...) is worth 0."""


def possession_return(events: Iterable[str]) -> float:
    """Sum of the event rewards of one possession, from the offence's side (the defence gets the negation)."""
    return float(sum(EVENT_REWARDS.get(e, 0.0) for e in events))


def negative_binomial_pmf(k: int | float, r: int = 5, p: float = 2.0 / 3.0) -> float:
    """P(the r-th success happens on trial k), success probability p; 0 for k < r (see the module docstring).

    Computed with ``torch.distributions.NegativeBinomial`` (which counts successes before ``total_count``
    failures, so "success" there is our failure: probs = 1 - p) at k - r failures."""
    k = int(round(abs(k)))
    if k < r:
        return 0.0
    dist = torch.distributions.NegativeBinomial(total_count=float(r), probs=torch.tensor(1.0 - p, dtype=torch.float64))
    return float(dist.log_prob(torch.tensor(float(k - r), dtype=torch.float64)).exp())


def shaped_reward(score: float, shot_clock: float, game_clock: float, score_diff: float, *,
                  period_length: float = 720.0, shot_clock_length: float = 24.0, nb_r: int = 5,
                  nb_p: float = 2.0 / 3.0) -> float:
    """ReLiable's reward for a shot attempt.

    score: points the offence scored on the attempt; shot_clock: seconds left on the shot clock (NaN -> no
    compensation); game_clock: seconds left in the period; score_diff: offence minus defence before the shot.
    """
    sc = 0.0 if (shot_clock is None or math.isnan(shot_clock)) else (shot_clock_length - shot_clock) / shot_clock_length
    progress = min(max(1.0 - game_clock / period_length, 0.0), 1.0)
    return float(score + sc + progress * negative_binomial_pmf(score_diff, nb_r, nb_p))
