"""Chronological train / validation / test split of basketball games, shared by ReLiable and PlayBest.

Test: games on or after ``test_from_date`` (the chapter: 2015 train, 2016 test), else the last ``test_fraction``
of games by date. Validation (for checkpoint selection and early evaluation, never the test games): the last
``val_fraction`` of the remaining games by date (at least one when ``val_fraction > 0``). Training: the rest,
all earlier than every validation and test game.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from lit_agents.fileio import DataError

G = TypeVar("G")


def chronological_split(dated: Sequence[tuple[str, G]], *, test_from_date: str | None, test_fraction: float,
                        val_fraction: float, path: str | Path | None = None) -> dict[str, list[G]]:
    """``{"train", "val", "test"}`` lists of the games in ``dated`` (``(date, game)`` pairs, any order)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = sorted(range(len(dated)), key=lambda i: (dated[i][0], i))
    games = [dated[i] for i in order]
    n = len(games)
    if test_from_date:
        n_test = sum(d >= test_from_date for d, _ in games)
    else:
        n_test = max(1, int(round(test_fraction * n)))
    rest = n - n_test
    n_val = max(1, int(round(val_fraction * n))) if val_fraction > 0 else 0
    if n_test == 0 or rest - n_val < 1:
        raise DataError(f"chronological split of {n} game(s) left an empty side (test {n_test}, validation {n_val}, "
                        f"train {rest - n_val}): give more games or lower test_fraction/val_fraction", path=path,
                        field="data.test_from_date" if test_from_date else "data.test_fraction")
    return {"train": [g for _, g in games[:rest - n_val]], "val": [g for _, g in games[rest - n_val:rest]],
            "test": [g for _, g in games[rest:]]}
