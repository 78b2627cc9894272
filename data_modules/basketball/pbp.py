"""NBA stats play-by-play CSV reader and possession boundaries from play-by-play.

Columns used: GAME_ID, EVENTNUM (joins SportVU ``eventId``), EVENTMSGTYPE, EVENTMSGACTIONTYPE, PERIOD,
PCTIMESTRING (``M:SS`` remaining in the period), HOME/NEUTRAL/VISITORDESCRIPTION, SCORE (``visitor - home``,
only on scoring rows), PERSON1TYPE (2/4 home team/player, 3/5 visitor), PLAYER1_ID, PLAYER1_TEAM_ID,
PLAYER3_TEAM_ID (jump-ball recipient). EVENTMSGTYPE codes: 1 made FG, 2 missed FG, 3 free throw, 4 rebound,
5 turnover, 6 foul, 7 violation, 8 substitution, 9 timeout, 10 jump ball, 11 ejection, 12/13 period
start/end, 18 instant replay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from data_modules.io import iter_csv_rows
from lit_agents.fileio import DataError

MADE, MISS, FREE_THROW, REBOUND, TURNOVER, FOUL, VIOLATION = 1, 2, 3, 4, 5, 6, 7
JUMP_BALL, PERIOD_START, PERIOD_END = 10, 12, 13
OFFENSIVE_FOUL_ACTIONS = {4, 26}      # OFF.Foul, offensive charge
REQUIRED = ("EVENTNUM", "EVENTMSGTYPE", "PERIOD", "PCTIMESTRING")


@dataclass
class PbpEvent:
    """One play-by-play row. ``team_id`` is the team of PERSON1 (the player or team the row is about)."""

    game_id: str
    eventnum: int
    msg_type: int
    action_type: int
    period: int
    clock_s: float                    # seconds remaining in the period
    description: str
    score: tuple[int, int] | None     # (visitor, home) after this row, when the row changes it
    team_id: int | None
    player_id: int | None
    recipient_team_id: int | None = None   # jump ball: who got the tip
    line: int = 0

    @property
    def is_three(self) -> bool:
        return "3PT" in self.description

    @property
    def ft_made(self) -> bool:
        return self.msg_type == FREE_THROW and "MISS" not in self.description.upper()


def parse_clock(text: str | None, *, path: str | Path = "", line: int = 0) -> float:
    """``'11:34'`` or ``'0:05.3'`` -> seconds (minutes >= 0, seconds in [0, 60), finite)."""
    try:
        m, s = (text if text is not None else "").strip().split(":")
        minutes, seconds = int(m), float(s)
    except ValueError as e:
        raise DataError(f"bad clock {text!r} (want M:SS)", path=path, line=line, field="PCTIMESTRING") from e
    if minutes < 0 or not 0.0 <= seconds < 60.0:  # also refuses nan and inf
        raise DataError(f"bad clock {text!r} (want M:SS with minutes >= 0 and seconds 0-59)", path=path, line=line,
                        field="PCTIMESTRING")
    return minutes * 60 + seconds


def _int(v: str | None, *, path: str | Path = "", line: int = 0, field: str | None = None) -> int | None:
    """An optional integer column (``''`` -> None; NBA files write ids as ``1610612737.0``)."""
    if v is None or v.strip() == "":
        return None
    try:
        x = float(v)
    except ValueError:
        x = math.nan
    if not math.isfinite(x):
        raise DataError(f"expected an integer, got {v!r}", path=path, line=line, field=field)
    return int(x)


def _req_int(row: dict, col: str, *, path: str | Path, line: int) -> int:
    """A required integer column; a short row (``None``) or a non-integer is a DataError naming the column."""
    v = row.get(col)
    if v is None or not v.strip():
        raise DataError("missing value (short or truncated row?)", path=path, line=line, field=col)
    try:
        return int(v)
    except ValueError:
        raise DataError(f"expected an integer, got {v!r}", path=path, line=line, field=col) from None


def _score(v: str, *, path: str | Path, line: int) -> tuple[int, int]:
    try:
        a, b = v.split("-")
        return int(a), int(b)
    except ValueError:
        raise DataError(f"bad score {v!r} (want 'visitor - home')", path=path, line=line, field="SCORE") from None


@dataclass
class PbpGame:
    """A game's play-by-play: events in game order and the two team ids."""

    game_id: str
    events: list[PbpEvent]
    home_team_id: int
    visitor_team_id: int
    path: str = ""
    n_rows: int = 0


def read_pbp(path: str | Path) -> PbpGame:
    """Read a play-by-play CSV; errors name the file, 1-based line and column."""
    path = Path(path)
    events: list[PbpEvent] = []
    home = visitor = None
    for i, row in iter_csv_rows(path, REQUIRED):
        kw = dict(path=path, line=i)
        desc = " | ".join(d for d in (row.get("HOMEDESCRIPTION"), row.get("NEUTRALDESCRIPTION"),
                                      row.get("VISITORDESCRIPTION")) if d)
        ptype = _int(row.get("PERSON1TYPE"), field="PERSON1TYPE", **kw)
        team = _int(row.get("PLAYER1_TEAM_ID"), field="PLAYER1_TEAM_ID", **kw)
        if team is None and ptype in (2, 3):          # team rows (team rebound, team turnover)
            team = _int(row.get("PLAYER1_ID"), field="PLAYER1_ID", **kw)
        score = _score(row["SCORE"], **kw) if row.get("SCORE") else None
        ev = PbpEvent(game_id=row.get("GAME_ID") or "", eventnum=_req_int(row, "EVENTNUM", **kw),
                      msg_type=_req_int(row, "EVENTMSGTYPE", **kw),
                      action_type=_int(row.get("EVENTMSGACTIONTYPE"), field="EVENTMSGACTIONTYPE", **kw) or 0,
                      period=_req_int(row, "PERIOD", **kw), clock_s=parse_clock(row.get("PCTIMESTRING"), **kw),
                      description=desc, score=score, team_id=team,
                      player_id=_int(row.get("PLAYER1_ID"), field="PLAYER1_ID", **kw),
                      recipient_team_id=_int(row.get("PLAYER3_TEAM_ID"), field="PLAYER3_TEAM_ID", **kw), line=i)
        if team is not None and ptype in (2, 4):
            home = team
        elif team is not None and ptype in (3, 5):
            visitor = team
        events.append(ev)
    if home is None or visitor is None:
        raise DataError("cannot tell home and visitor teams (no PERSON1TYPE 2/4 and 3/5 rows)", path=path,
                        field="PERSON1TYPE")
    # NBA rows are almost in game order; order by period then clock (stable, keeps FT/rebound order).
    events.sort(key=lambda e: (e.period, -e.clock_s))
    return PbpGame(game_id=events[0].game_id if events else "", events=events, home_team_id=home,
                   visitor_team_id=visitor, path=str(path), n_rows=len(events))


def event_kind(ev: PbpEvent, offense_team: int | None) -> str | None:
    """Event kind for the reward table, from the offence's point of view (None: not an event of interest)."""
    t = ev.msg_type
    if t == MADE:
        return "3pt_made" if ev.is_three else "2pt_made"
    if t == MISS:
        return "miss"
    if t == FREE_THROW:
        return "ft_made" if ev.ft_made else "ft_miss"
    if t == REBOUND:
        return "rebound" if ev.team_id == offense_team else "defensive_rebound"
    if t == TURNOVER:
        return "turnover"
    if t == FOUL:   # the table's -0.25 is for the team that fouls: a defensive foul is the defence's
        return "foul" if ev.team_id == offense_team else "defensive_foul"
    if t == VIOLATION:
        return "violation" if ev.team_id == offense_team else "defensive_violation"
    return None


@dataclass
class PbpPossession:
    """A possession cut from play-by-play: the offence, the clock span and what happened."""

    period: int
    offense_team_id: int
    start_clock: float
    end_clock: float
    events: list[str] = field(default_factory=list)
    eventnums: list[int] = field(default_factory=list)
    points: int = 0
    score_before: tuple[int, int] = (0, 0)   # (visitor, home) at the start
    shot_clock_s: float | None = None        # clock (s remaining in the period) of the last FG attempt
    shot_three: bool = False
    shot_made: bool = False
    shooter_id: int | None = None


def _ball_team(ev: PbpEvent, home: int, visitor: int) -> int | None:
    """Which team has the ball during/after this row (None: the row says nothing)."""
    other = {home: visitor, visitor: home}
    t = ev.msg_type
    if t in (MADE, MISS, FREE_THROW, REBOUND, TURNOVER, VIOLATION) and ev.team_id in other:
        # defensive goaltending / lane / kicked: the other team shoots
        if t == VIOLATION and ev.action_type in (2, 3, 4):
            return other[ev.team_id]
        return ev.team_id
    if t == FOUL and ev.team_id in other:
        return ev.team_id if ev.action_type in OFFENSIVE_FOUL_ACTIONS else other[ev.team_id]
    if t == JUMP_BALL and ev.recipient_team_id in other:
        return ev.recipient_team_id
    return None


def pbp_possessions(game: PbpGame) -> list[PbpPossession]:
    """Cut the game into possessions: a new one whenever the team with the ball changes or a period starts.

    The team with the ball is read off each row (shooter, rebounder, player who lost the ball, the team fouled
    on a defensive foul). A made FG, a defensive rebound or a turnover hands the ball over; the next row that
    names the other team opens its possession."""
    home, visitor = game.home_team_id, game.visitor_team_id
    score = (0, 0)
    out: list[PbpPossession] = []
    cur: PbpPossession | None = None
    for ev in game.events:
        if ev.msg_type == PERIOD_START or (cur is not None and ev.period != cur.period):
            cur = None
        team = _ball_team(ev, home, visitor)
        if team is not None and (cur is None or team != cur.offense_team_id):
            if cur is not None:
                cur.end_clock = ev.clock_s
            cur = PbpPossession(period=ev.period, offense_team_id=team, start_clock=ev.clock_s,
                                end_clock=ev.clock_s, score_before=score)
            out.append(cur)
        if cur is not None:
            kind = event_kind(ev, cur.offense_team_id)
            if kind is not None:
                cur.events.append(kind)
                cur.eventnums.append(ev.eventnum)
            cur.end_clock = ev.clock_s
            if ev.msg_type in (MADE, MISS):
                cur.shot_clock_s, cur.shot_three = ev.clock_s, ev.is_three
                cur.shot_made, cur.shooter_id = ev.msg_type == MADE, ev.player_id
        if ev.score is not None:
            if cur is not None:
                before = score[1] if cur.offense_team_id == home else score[0]
                after = ev.score[1] if cur.offense_team_id == home else ev.score[0]
                cur.points += max(after - before, 0)
            score = ev.score
    return out
