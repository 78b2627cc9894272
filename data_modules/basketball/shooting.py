"""Player shooting percentages from games strictly before the current one (dissertation §6.5.1.1).

Games are visited in date order; ``before(game)`` returns each player's smoothed 2-pt and 3-pt percentage
using only earlier games, then ``update(game)`` adds that game's attempts. Smoothing (ours): a Beta prior at the
league averages with ``prior_attempts`` pseudo-attempts, so a player's first game gets the league average.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from data_modules.basketball.pbp import MADE, MISS, PbpGame


class ShootingTable:
    """Running per-player counts ``[2PM, 2PA, 3PM, 3PA]``."""

    def __init__(self, league_fg2: float = 0.49, league_fg3: float = 0.35, prior_attempts: float = 20.0):
        self.fg2, self.fg3, self.prior = league_fg2, league_fg3, prior_attempts
        self.counts: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(4, np.float64))
        self.last_date = ""

    def percentages(self, player_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(fg2 [n], fg3 [n]) for the given players from what has been seen so far."""
        c = np.stack([self.counts[int(p)] if int(p) in self.counts else np.zeros(4) for p in player_ids])
        fg2 = (c[:, 0] + self.prior * self.fg2) / (c[:, 1] + self.prior)
        fg3 = (c[:, 2] + self.prior * self.fg3) / (c[:, 3] + self.prior)
        return fg2.astype(np.float32), fg3.astype(np.float32)

    def update(self, pbp: PbpGame, game_date: str) -> None:
        """Add one game's field-goal attempts; games must come in date order (checked)."""
        if game_date < self.last_date:
            raise ValueError(f"games out of date order: {game_date} after {self.last_date}")
        self.last_date = game_date
        for ev in pbp.events:
            if ev.msg_type in (MADE, MISS) and ev.player_id:
                c = self.counts[int(ev.player_id)]
                k = 2 if ev.is_three else 0
                c[k] += ev.msg_type == MADE
                c[k + 1] += 1
