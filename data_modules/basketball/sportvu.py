"""Read public SportVU game logs (one JSON per game, often inside a ``.7z``) into arrays.

Schema (github.com/neilmj/BasketballData): ``{gameid, gamedate, events: [{eventId, visitor, home, moments:
[[period, epoch_ms, game_clock, shot_clock, null, [[team_id, player_id, x, y, z] x 11]]]}]}``; the ball has
team_id = player_id = -1. Consecutive events overlap in time, so the same moment appears in several events:
duplicates (same period and epoch_ms) are removed. Frames with fewer than 10 players or no ball are counted
and dropped, never silently.
"""

from __future__ import annotations

import io
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lit_agents.fileio import DataError, decode_utf8, read_utf8, resolve_inside

BALL_ID = -1


@dataclass
class Game:
    """One game's tracking frames, sorted by (period, epoch_ms), deduplicated.

    ``positions[i, 0]`` is the ball, ``positions[i, 1:11]`` the ten players in the order the feed gives them
    (``team_ids``/``player_ids`` say who). Clocks are seconds; a null shot clock is NaN.
    """

    game_id: str
    game_date: str
    home_team_id: int
    visitor_team_id: int
    players: dict[int, dict] = field(default_factory=dict)   # player_id -> {team_id, name, jersey, position}
    period: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    epoch_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    game_clock: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    shot_clock: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    event_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    positions: np.ndarray = field(default_factory=lambda: np.zeros((0, 11, 3), np.float32))
    team_ids: np.ndarray = field(default_factory=lambda: np.zeros((0, 11), np.int64))
    player_ids: np.ndarray = field(default_factory=lambda: np.zeros((0, 11), np.int64))
    n_events: int = 0
    n_moments: int = 0            # moments read, before deduplication
    n_duplicates: int = 0         # moments already seen in an earlier event
    n_dropped_players: int = 0    # frames with fewer than 10 players
    n_dropped_no_ball: int = 0    # frames without the ball
    n_trimmed_players: int = 0    # frames with more than 10 players or balls (the first 10 players and ball kept)

    @property
    def n_frames(self) -> int:
        return int(self.period.shape[0])

    def counts(self) -> dict[str, int]:
        """What was read and what was dropped, for logs."""
        return {"events": self.n_events, "moments": self.n_moments, "duplicates": self.n_duplicates,
                "dropped_few_players": self.n_dropped_players, "dropped_no_ball": self.n_dropped_no_ball,
                "trimmed_extra_objects": self.n_trimmed_players,
                "frames": self.n_frames}


def _load_json_text(path: Path) -> tuple[str, str]:
    """(text, name) of the game JSON; ``.7z`` archives must hold exactly one ``.json``."""
    if path.suffix == ".7z":
        import py7zr  # real archive reader; only needed for .7z

        try:
            with py7zr.SevenZipFile(path, mode="r") as z:
                names = [n for n in z.getnames() if n.endswith(".json")]
                if len(names) != 1:
                    raise DataError(f"expected one .json inside the archive, found {names}", path=path)
                with tempfile.TemporaryDirectory() as tmp:
                    # the member name comes from the archive: it must not escape the extraction directory
                    # (zip-slip), before extraction and again after it (a symlink member pointing outside)
                    resolve_inside(tmp, names[0], path=path, field="archive member")
                    if any(f.filename == names[0] and f.is_symlink for f in z.list()):
                        raise DataError(f"archive member {names[0]!r} is a symbolic link, not a game file",
                                        path=path, field="archive member")
                    z.extract(path=tmp, targets=names)
                    raw = resolve_inside(tmp, names[0], path=path, field="archive member").read_bytes()
            return decode_utf8(raw, f"{path}!{names[0]}"), f"{path}!{names[0]}"
        except DataError:
            raise
        except Exception as e:  # py7zr raises several types for corrupt/truncated archives
            raise DataError(f"cannot read 7z archive ({type(e).__name__}: {e})", path=path) from e
    return read_utf8(path), str(path)


def _team(ev: dict, key: str, where: str, into: dict[int, dict]) -> int:
    team = ev.get(key)
    if not isinstance(team, dict) or "teamid" not in team:
        raise DataError(f"event has no {key} team", path=where, field=f"{key}.teamid")
    for p in team.get("players", []) or []:
        try:
            into[int(p["playerid"])] = {"team_id": int(team["teamid"]),
                                        "name": f"{p.get('firstname', '')} {p.get('lastname', '')}".strip(),
                                        "jersey": p.get("jersey"), "position": p.get("position")}
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"bad player entry {p!r}", path=where, field=f"{key}.players") from e
    return int(team["teamid"])


def parse_sportvu(obj: dict, *, source: str = "<memory>") -> Game:
    """Parse an already-decoded SportVU game object (see the module docstring)."""
    if not isinstance(obj, dict):
        raise DataError("top level is not a JSON object", path=source)
    for key in ("gameid", "events"):
        if key not in obj:
            raise DataError("missing top-level field", path=source, field=key)
    if not isinstance(obj["events"], list):
        raise DataError("'events' is not a list", path=source, field="events")
    players: dict[int, dict] = {}
    home = visitor = -1
    seen: set[tuple[int, int]] = set()
    rows: list[tuple] = []
    pos_rows: list[np.ndarray] = []
    g = Game(game_id=str(obj["gameid"]), game_date=str(obj.get("gamedate", "")), home_team_id=-1,
             visitor_team_id=-1)
    for ei, ev in enumerate(obj["events"]):
        eid = ev.get("eventId", ei) if isinstance(ev, dict) else ei
        where = f"{source} (event index {ei}, eventId {eid})"
        if not isinstance(ev, dict):
            raise DataError("event is not an object", path=where)
        home = _team(ev, "home", where, players)
        visitor = _team(ev, "visitor", where, players)
        moments = ev.get("moments")
        if not isinstance(moments, list):
            raise DataError("'moments' missing or not a list", path=where, field="moments")
        g.n_events += 1
        for mi, m in enumerate(moments):
            mwhere = f"{where}, moment {mi}"
            if not isinstance(m, list) or len(m) < 6 or not isinstance(m[5], list):
                raise DataError("moment is not [period, epoch_ms, game_clock, shot_clock, null, objects]",
                                path=mwhere)
            g.n_moments += 1
            try:
                period, epoch = int(m[0]), int(m[1])
                gclock = float(m[2])
                sclock = float("nan") if m[3] is None else float(m[3])
            except (TypeError, ValueError) as e:
                raise DataError(f"bad clock/period value ({e})", path=mwhere, field="moment[0:4]") from e
            key = (period, epoch)
            if key in seen:
                g.n_duplicates += 1
                continue
            seen.add(key)
            objs = m[5]
            try:
                arr = np.asarray([[float(v) for v in o[:5]] for o in objs], dtype=np.float64).reshape(-1, 5)
            except (TypeError, ValueError) as e:
                raise DataError(f"bad object entry ({e})", path=mwhere, field="objects") from e
            if arr.shape[0] and arr.shape[1] != 5:
                raise DataError("object entries need 5 values", path=mwhere, field="objects")
            is_ball = arr[:, 1] == BALL_ID
            if not is_ball.any():
                g.n_dropped_no_ball += 1
                continue
            ply = arr[~is_ball]
            if ply.shape[0] < 10:
                g.n_dropped_players += 1
                continue
            if ply.shape[0] > 10 or is_ball.sum() > 1:
                g.n_trimmed_players += 1
            frame = np.concatenate([arr[is_ball][:1], ply[:10]], axis=0)
            rows.append((period, epoch, gclock, sclock, int(eid)))
            pos_rows.append(frame)
    g.home_team_id, g.visitor_team_id, g.players = home, visitor, players
    if rows:
        order = np.lexsort((np.array([r[1] for r in rows]), np.array([r[0] for r in rows])))
        r = np.asarray(rows, dtype=np.float64)[order]
        f = np.stack(pos_rows)[order]
        g.period, g.epoch_ms = r[:, 0].astype(np.int16), r[:, 1].astype(np.int64)
        g.game_clock, g.shot_clock = r[:, 2].astype(np.float32), r[:, 3].astype(np.float32)
        g.event_id = r[:, 4].astype(np.int32)
        g.team_ids, g.player_ids = f[:, :, 0].astype(np.int64), f[:, :, 1].astype(np.int64)
        g.positions = f[:, :, 2:5].astype(np.float32)
    return g


def read_sportvu_game(path: str | Path) -> Game:
    """Read one SportVU game from ``.json`` or ``.7z``; errors name the file, event and moment."""
    path = Path(path)
    text, name = _load_json_text(path)
    try:
        obj = json.load(io.StringIO(text))
    except json.JSONDecodeError as e:
        raise DataError(f"invalid or truncated JSON at line {e.lineno} column {e.colno}: {e.msg}",
                        path=name, line=e.lineno) from e
    return parse_sportvu(obj, source=name)


def game_to_json(g: Game) -> dict:
    """Inverse of :func:`parse_sportvu` (one event per SportVU event id), used by the synthetic writer."""
    def roster(team_id: int) -> dict:
        ps = [{"lastname": v["name"].split(" ")[-1], "firstname": " ".join(v["name"].split(" ")[:-1]),
               "playerid": pid, "jersey": v.get("jersey"), "position": v.get("position")}
              for pid, v in g.players.items() if v["team_id"] == team_id]
        return {"name": str(team_id), "teamid": team_id, "abbreviation": str(team_id), "players": ps}

    home, visitor = roster(g.home_team_id), roster(g.visitor_team_id)
    events: list[dict] = []
    for eid in dict.fromkeys(g.event_id.tolist()):
        idx = np.nonzero(g.event_id == eid)[0]
        moments = []
        for i in idx:
            objs = [[int(g.team_ids[i, k]), int(g.player_ids[i, k])] + [round(float(v), 5) for v in
                                                                         g.positions[i, k]] for k in range(11)]
            sc = None if np.isnan(g.shot_clock[i]) else round(float(g.shot_clock[i]), 2)
            moments.append([int(g.period[i]), int(g.epoch_ms[i]), round(float(g.game_clock[i]), 2), sc, None, objs])
        events.append({"eventId": str(eid), "visitor": visitor, "home": home, "moments": moments})
    return {"gameid": g.game_id, "gamedate": g.game_date, "events": events}
