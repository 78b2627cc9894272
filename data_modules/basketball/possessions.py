"""Possessions: slices of a game's frames with one team on offence, oriented to one half court.

Object order in ``positions``: 0 = ball, 1-5 = offence, 6-10 = defence; within a team players are ordered by
roster position (guards first) then player id, so channels keep their meaning across examples (§6.5.1.1).
Coordinates are rotated so the offence attacks the basket at (5.25, 25).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data_modules.basketball.court import HALF_LENGTH, orient
from data_modules.basketball.pbp import PbpGame, pbp_possessions, read_pbp
from data_modules.basketball.sportvu import Game, read_sportvu_game
from lit_agents.fileio import DataError, resolve_inside

log = logging.getLogger(__name__)
_POSITION_RANK = {"G": 0, "G-F": 1, "F-G": 2, "F": 3, "F-C": 4, "C-F": 5, "C": 6}


@dataclass
class Possession:
    """One possession. Arrays are per frame (T frames at the feed's rate, 25 fps for SportVU)."""

    game_id: str
    game_date: str
    period: int
    offense_team_id: int
    positions: np.ndarray            # [T, 11, 3] float32 feet; 0 ball, 1-5 offence, 6-10 defence
    game_clock: np.ndarray           # [T] seconds left in the period
    shot_clock: np.ndarray           # [T] seconds (NaN where the feed had none)
    score_diff: int                  # offence minus defence at the start
    events: list[str]                # event kinds in order ('2pt_made', 'miss', 'rebound', ...)
    player_ids: np.ndarray           # [11] (-1 for the ball)
    defense_team_id: int = -1
    points: int = 0                  # points the offence scored in this possession
    shot_game_clock: float | None = None   # clock of the last field-goal attempt (play-by-play), if any
    shot_made: bool = False
    shot_three: bool = False
    shooter_id: int | None = None
    epoch_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def n_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def scored(self) -> bool:
        return self.points > 0


def _order_team(pids: np.ndarray, players: dict[int, dict]) -> np.ndarray:
    """Indices that sort one team's players by roster position, then id."""
    keys = [(_POSITION_RANK.get(str(players.get(int(p), {}).get("position") or ""), 9), int(p)) for p in pids]
    return np.array(sorted(range(len(pids)), key=lambda i: keys[i]))


def _build(game: Game, idx: np.ndarray, offense: int, *, period: int, score_diff: int, events: list[str],
           stats: Counter, **extra) -> Possession | None:
    """Assemble one possession from frame indices; frames without exactly 5 players a side are counted."""
    defense = game.visitor_team_id if offense == game.home_team_id else game.home_team_id
    tids = game.team_ids[idx, 1:]
    ok = ((tids == offense).sum(1) == 5) & ((tids == defense).sum(1) == 5)
    stats["frames_bad_lineup"] += int((~ok).sum())
    idx = idx[ok]
    if idx.size == 0:
        return None
    # Lineups only change at dead balls; take the first frame's lineup and drop frames that differ (counted).
    first = game.player_ids[idx[0], 1:]
    off_ids = np.sort(first[game.team_ids[idx[0], 1:] == offense])
    same = np.array([np.array_equal(np.sort(game.player_ids[i, 1:][game.team_ids[i, 1:] == offense]), off_ids)
                     for i in idx])
    stats["frames_lineup_change"] += int((~same).sum())
    idx = idx[same]
    pos = np.empty((idx.size, 11, 3), np.float32)
    pos[:, 0] = game.positions[idx, 0]
    pid_out = np.full(11, -1, np.int64)
    for slot, team in ((1, offense), (6, defense)):
        team_pids = game.player_ids[idx[0], 1:][game.team_ids[idx[0], 1:] == team]
        order = team_pids[_order_team(team_pids, game.players)]
        pid_out[slot:slot + 5] = order
        for k, pid in enumerate(order):
            col = np.argmax(game.player_ids[idx, 1:] == pid, axis=1) + 1
            pos[:, slot + k] = game.positions[idx, col]
    attacks_right = float(pos[:, 1:6, 0].mean()) > HALF_LENGTH
    return Possession(game_id=game.game_id, game_date=game.game_date, period=period, offense_team_id=offense,
                      positions=orient(pos, attacks_right), game_clock=game.game_clock[idx].copy(),
                      shot_clock=game.shot_clock[idx].copy(), score_diff=score_diff, events=events,
                      player_ids=pid_out, defense_team_id=defense, epoch_ms=game.epoch_ms[idx].copy(), **extra)


def _segment_by_tracking(game: Game, *, min_switch_frames: int, control_radius_ft: float) -> list[tuple]:
    """Without play-by-play: the team of the player nearest the ball (within the radius) controls it; a new
    possession starts when control changes and holds for ``min_switch_frames`` frames, or a period starts."""
    d = np.linalg.norm(game.positions[:, 1:, :2] - game.positions[:, :1, :2], axis=-1)
    near = np.argmin(d, axis=1)
    ctrl = np.where(d[np.arange(len(d)), near] <= control_radius_ft, game.team_ids[np.arange(len(d)), near + 1], -1)
    spans, cur, start = [], None, 0
    for i in range(game.n_frames):
        new_period = i > 0 and game.period[i] != game.period[i - 1]
        t = ctrl[i]
        switch = t != -1 and t != cur and np.all(ctrl[i:i + min_switch_frames] == t)
        if new_period or switch:
            if cur is not None and cur != -1:
                spans.append((cur, int(game.period[start]), np.arange(start, i)))
            cur, start = (t if t != -1 else cur) if not new_period else t, i
    if cur is not None and cur != -1:
        spans.append((cur, int(game.period[start]), np.arange(start, game.n_frames)))
    return spans


def segment_possessions(game: Game, pbp: PbpGame | None = None, *, min_frames: int = 25,
                        min_switch_frames: int = 25, control_radius_ft: float = 4.0,
                        stats: Counter | None = None) -> list[Possession]:
    """Cut a game into possessions, with play-by-play boundaries and outcomes when ``pbp`` is given.

    Possessions shorter than ``min_frames`` are counted in ``stats['short_possessions']`` and dropped."""
    stats = stats if stats is not None else Counter()
    out: list[Possession] = []
    if game.n_frames == 0:
        return out
    if pbp is not None:
        if pbp.game_id and game.game_id and pbp.game_id.lstrip("0") != game.game_id.lstrip("0"):
            raise DataError(f"play-by-play is for game {pbp.game_id}, tracking for {game.game_id}", path=pbp.path)
        for pp in pbp_possessions(pbp):
            sel = np.nonzero((game.period == pp.period) & (game.game_clock <= pp.start_clock)
                             & (game.game_clock > pp.end_clock))[0]
            home_off = pp.offense_team_id == game.home_team_id
            own, opp = (pp.score_before[1], pp.score_before[0]) if home_off else pp.score_before
            if sel.size == 0:
                stats["pbp_possessions_without_frames"] += 1
                continue
            if sel.size < min_frames:
                stats["short_possessions"] += 1
                continue
            p = _build(game, sel, pp.offense_team_id, period=pp.period, score_diff=own - opp, events=list(pp.events),
                       stats=stats, points=pp.points, shot_game_clock=pp.shot_clock_s, shot_made=pp.shot_made,
                       shot_three=pp.shot_three, shooter_id=pp.shooter_id)
            if p is None or p.n_frames < min_frames:
                stats["short_possessions"] += 1
                continue
            out.append(p)
    else:
        for team, period, sel in _segment_by_tracking(game, min_switch_frames=min_switch_frames,
                                                      control_radius_ft=control_radius_ft):
            p = _build(game, sel, int(team), period=period, score_diff=0, events=[], stats=stats) \
                if sel.size >= min_frames else None
            if p is None or p.n_frames < min_frames:
                stats["short_possessions"] += 1
                continue
            out.append(p)
    stats["possessions"] += len(out)
    return out


def find_pbp(game_path: Path, pbp_dir: str | Path | None, game_id: str) -> Path | None:
    """``<pbp_dir>/<game_id>.csv`` (NBA ids keep their leading zeros), else None."""
    if pbp_dir is None:
        return None
    for name in (f"{game_id}.csv", f"{game_id.zfill(10)}.csv"):
        p = resolve_inside(pbp_dir, name, path=game_path, field="gameid")  # the id comes from the game file
        if p.is_file():
            return p
    return None


def iter_possessions(paths: Iterable[str | Path], *, pbp_dir: str | Path | None = None,
                     stats: Counter | None = None, **kwargs) -> Iterator[Possession]:
    """Stream possessions game by game (one game in memory at a time)."""
    stats = stats if stats is not None else Counter()
    for path in paths:
        game = read_sportvu_game(path)
        for k, v in game.counts().items():
            stats[f"game_{k}"] += v
        pbp_path = find_pbp(Path(path), pbp_dir, game.game_id)
        pbp = read_pbp(pbp_path) if pbp_path is not None else None
        yield from segment_possessions(game, pbp, stats=stats, **kwargs)
