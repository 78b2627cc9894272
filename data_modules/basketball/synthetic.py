"""Synthetic SportVU games in the exact public schema, optionally driven by a real play-by-play CSV.

No public tracking positions can be had on these machines, so tests, the embedded default and simulation
studies use games written here. Driven by a real NBA play-by-play CSV, the possession boundaries, clocks,
scores and outcomes are the real ones and only the positions are synthesised; without one, outcomes are
sampled. Next to each ``<game_id>.json`` (or ``.7z``) the writer puts ``<game_id>.csv`` (play-by-play: the real
rows with GAME_ID replaced, or sampled rows in the NBA columns) and ``<game_id>.truth.json``.

The known better action: the handler's defender sometimes sags off (the handler is *open*, >= ``open_gap_ft``
away). Open shots go in far more often than contested ones (made shots are staged open with probability
``1 - outcome_noise``, missed shots contested), and in some possessions that end in a miss the handler passes
up an earlier open shot. So in an open state within shooting range "shoot" is the better action; the
release frames of those states are listed in ``truth.json`` (``open_frames``, with what the behaviour did).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_modules.basketball.court import BASKET_X, BASKET_Y, RIM_HEIGHT_FT, orient
from data_modules.basketball.pbp import MADE, MISS, REBOUND, TURNOVER, pbp_possessions, read_pbp

GENERATOR_VERSION = 5
"""Bumped whenever the generated positions change, so caches keyed on the synthetic settings are redone."""
PBP_COLUMNS = ["GAME_ID", "EVENTNUM", "EVENTMSGTYPE", "EVENTMSGACTIONTYPE", "PERIOD", "WCTIMESTRING",
               "PCTIMESTRING", "HOMEDESCRIPTION", "NEUTRALDESCRIPTION", "VISITORDESCRIPTION", "SCORE", "SCOREMARGIN",
               "PERSON1TYPE", "PLAYER1_ID", "PLAYER1_NAME", "PLAYER1_TEAM_ID", "PLAYER3_TEAM_ID"]
# Offensive spots (oriented: basket at x = 5.25): top, two wings, corner, post; three-point spots first.
SPOTS_3 = np.array([[31.0, 25.0], [24.0, 7.0], [24.0, 43.0], [4.0, 2.0], [4.0, 48.0]], np.float32)
SPOTS_2 = np.array([[12.0, 18.0], [12.0, 32.0], [16.0, 25.0], [8.0, 22.0], [19.0, 14.0]], np.float32)


@dataclass
class _Plan:
    period: int
    offense_home: bool
    start_clock: float
    end_clock: float
    ending: str            # 'shot' | 'turnover' | 'none'
    three: bool = False
    made: bool = False
    eventnum: int = 0
    score_before: tuple[int, int] = (0, 0)


def _fmt_clock(s: float) -> str:
    return f"{int(s // 60)}:{int(s % 60):02d}"


def _team_players(rows: list[dict], ptypes: tuple[str, ...]) -> list[tuple[int, str]]:
    """The 5 most frequent players of one side in the play-by-play (our fixed synthetic lineup)."""
    from collections import Counter
    c, names = Counter(), {}
    for r in rows:
        if r.get("PERSON1TYPE", "").split(".")[0] in ptypes and r.get("PLAYER1_ID", "0") not in ("", "0"):
            pid = int(float(r["PLAYER1_ID"]))
            if pid > 100000 and pid < 1600000000:       # team rows carry the team id there
                c[pid] += 1
                names[pid] = r.get("PLAYER1_NAME", "")
    return [(p, names[p]) for p, _ in c.most_common(5)]


class _Sim:
    """Moves 10 players and the ball through one possession in oriented coordinates."""

    def __init__(self, rng: np.random.Generator, fps: int, open_gap_ft: float, guard_gap_ft: float,
                 open_lead_s: float = 0.6):
        self.rng, self.fps, self.open_gap, self.guard_gap = rng, fps, open_gap_ft, guard_gap_ft
        self.open_lead_s = open_lead_s   # the defender sags off this long before the decision (shot or pass)

    def run(self, plan: _Plan, duration: float, pass_up_open: bool, outcome_open: bool) -> tuple[np.ndarray, list[int]]:
        """[T, 11, 3] positions and the frame indices of open-shot decision points."""
        rng, fps = self.rng, self.fps
        n = max(int(round(duration * fps)), 2)
        spots = np.concatenate([SPOTS_3[rng.permutation(5)[:3]], SPOTS_2[rng.permutation(5)[:2]]])
        off = np.zeros((n, 5, 2), np.float32)
        start = np.stack([rng.uniform(38, 46, 5), rng.uniform(8, 42, 5)], 1)
        for t in range(n):   # first-order approach to the spots with a little jitter
            a = min(1.0, (t + 1) / (2.5 * fps))
            off[t] = start * (1 - a) + spots * a + rng.normal(0, 0.15, (5, 2))
        # ball-handler timeline: dribble segments then passes; the final action at the end
        shot_len = int(1.0 * fps) if plan.ending == "shot" else 0
        handler = np.zeros(n, np.int64)
        in_flight = np.zeros(n, bool)
        h, t, passes = int(rng.integers(0, 5)), 0, []
        while t < n - shot_len:
            seg = int(rng.uniform(1.0, 2.6) * fps)
            handler[t:t + seg] = h
            t += seg
            if t >= n - shot_len - int(0.6 * fps):
                break
            nxt = int((h + rng.integers(1, 5)) % 5)
            fl = max(int(0.4 * fps), 1)
            passes.append((t, h, nxt, fl))
            handler[t:t + fl] = h
            in_flight[t:t + fl] = True
            t += fl
            h = nxt
        handler[t:] = h
        shooter = h
        if plan.ending == "shot":
            # the shooter moves to a 3-pt or a 2-pt spot before releasing
            rel = n - shot_len
            cand = SPOTS_3 if plan.three else SPOTS_2    # the spot farthest from the teammates (so their
            mates = np.delete(off[max(rel - 1, 0)], shooter, axis=0)   # defenders do not crowd the shooter)
            gaps = np.linalg.norm(cand[:, None] - mates[None], axis=-1).min(1)
            tgt = cand[int(np.argmax(gaps + rng.uniform(0, 1, len(cand))))]
            for k in range(max(rel - int(1.2 * fps), 0), n):
                a = min(1.0, (k - (rel - int(1.2 * fps)) + 1) / max(int(1.0 * fps), 1))
                off[k, shooter] = off[k, shooter] * (1 - a) + tgt * a
        # defenders: between their man and the basket, guard_gap away; sag off when the man is "open"
        gap = np.full((n, 5), self.guard_gap, np.float32)
        open_frames: list[int] = []
        if plan.ending == "shot" and outcome_open:
            rel = n - shot_len
            gap[max(rel - int(self.open_lead_s * fps), 0):, shooter] = self.open_gap + 2.0
            open_frames.append(rel - 1)
        if pass_up_open and passes:
            # the first pass made once the offence has reached its spots (the passer is then within shooting
            # range, as the shooter is at release); the decision frame is the last one with the ball in the
            # passer's hands (t0 - 1: t0 already has the ball in flight), as rel - 1 is for the shot
            arrived = int(2.5 * fps)
            t0, passer, _, _ = next((q for q in passes if q[0] - 1 >= arrived), passes[-1])
            gap[max(t0 - int(self.open_lead_s * fps), 0):t0 + 1, passer] = self.open_gap + 2.0
            open_frames.append(max(t0 - 1, 0))
        basket = np.array([BASKET_X, BASKET_Y], np.float32)
        vec = basket - off
        unit = vec / np.maximum(np.linalg.norm(vec, axis=-1, keepdims=True), 1e-3)
        dfn = off + unit * gap[..., None] + rng.normal(0, 0.2, off.shape)
        for k in range(1, n):   # smooth the sag in and out (defenders cannot teleport)
            dfn[k] = dfn[k - 1] + np.clip(dfn[k] - dfn[k - 1], -0.8 * 25 / fps, 0.8 * 25 / fps)
        # ball
        ball = np.zeros((n, 3), np.float32)
        tt = np.arange(n) / fps
        ball[:, :2] = off[np.arange(n), handler] + 0.5
        ball[:, 2] = 1.5 + 1.5 * np.abs(np.sin(2 * np.pi * 2.0 * tt))
        for t0, a, b, fl in passes:
            for k in range(fl):
                f = (k + 1) / (fl + 1)
                ball[t0 + k, :2] = off[t0 + k, a] * (1 - f) + off[min(t0 + fl, n - 1), b] * f
                ball[t0 + k, 2] = 5.0
        if plan.ending == "shot":
            rel = n - shot_len
            flight = max(int(0.8 * fps), 2)
            src = np.append(off[rel - 1, shooter], 7.0)
            rim = np.array([BASKET_X, BASKET_Y, RIM_HEIGHT_FT], np.float32)
            for k in range(shot_len):
                if k < flight:                                            # the arc to the rim, peaks ~15 ft
                    f = (k + 1) / flight
                    ball[rel + k] = src * (1 - f) + rim * f
                    ball[rel + k, 2] += 8.0 * 4 * f * (1 - f)
                elif plan.made:                                           # through the net
                    ball[rel + k] = rim - np.array([0.0, 0.0, 2.0 * (k - flight + 1)], np.float32)
                else:                                                     # off the rim
                    ball[rel + k] = rim + np.array([2.5 * (k - flight + 1), 1.0, 0.5], np.float32)
        elif plan.ending == "turnover":
            k0 = n - max(int(0.5 * fps), 1)
            ball[k0:, :2] = dfn[k0:, handler[k0]] + 0.3
        pos = np.concatenate([ball[:, None], np.concatenate([off, np.full((n, 5, 1), 0.0, np.float32)], -1),
                              np.concatenate([dfn, np.zeros((n, 5, 1), np.float32)], -1)], axis=1)
        pos[:, :, 0] = np.clip(pos[:, :, 0], 0.0, 46.9)
        pos[:, :, 1] = np.clip(pos[:, :, 1], 0.0, 50.0)
        return pos.astype(np.float32), open_frames


def _plans_from_pbp(pbp_csv: Path, max_possessions: int, skip: int = 0) -> tuple[list[_Plan], list[dict], int, int]:
    """The ``max_possessions`` live possessions of a real log after the first ``skip`` (a window of the game)."""
    game = read_pbp(pbp_csv)
    plans = []
    live = [pp for pp in pbp_possessions(game) if pp.start_clock - pp.end_clock >= 2.0]   # no free-throw-only ones
    if skip + max_possessions > len(live):
        raise ValueError(f"play-by-play {pbp_csv} has {len(live)} live possessions; a game drawing possessions "
                         f"{skip}..{skip + max_possessions - 1} needs more: lower n_games or max_possessions, or give "
                         "more play-by-play logs (games never reuse another game's possessions)")
    for pp in live[skip:]:
        ending = "shot" if pp.shot_clock_s is not None else ("turnover" if "turnover" in pp.events else "none")
        plans.append(_Plan(period=pp.period, offense_home=pp.offense_team_id == game.home_team_id,
                           start_clock=pp.start_clock, end_clock=pp.end_clock, ending=ending, three=pp.shot_three,
                           made=pp.shot_made, eventnum=pp.eventnums[0] if pp.eventnums else 0,
                           score_before=pp.score_before))
        if len(plans) >= max_possessions:
            break
    with open(pbp_csv, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return plans, rows, game.home_team_id, game.visitor_team_id


def _sampled_plans(rng: np.random.Generator, n: int, *, p_three: float, p_turnover: float) -> list[_Plan]:
    plans, clock, home = [], 720.0, bool(rng.integers(0, 2))
    for i in range(n):
        d = float(rng.uniform(8.0, 18.0))
        if clock - d < 1.0:
            break
        ending = "turnover" if rng.random() < p_turnover else "shot"
        plans.append(_Plan(period=1, offense_home=home, start_clock=clock, end_clock=clock - d, ending=ending,
                           three=bool(rng.random() < p_three), eventnum=2 * i + 1))
        clock, home = clock - d, not home
    return plans


def _sampled_rows(plans: list[_Plan], game_id: str, home: list[tuple[int, str]], visitor: list[tuple[int, str]],
                  home_id: int, visitor_id: int, rng: np.random.Generator) -> list[dict]:
    """NBA-column play-by-play rows for sampled plans (made/missed FG + defensive rebound, turnover)."""
    rows, score = [], [0, 0]        # (visitor, home)
    for p in plans:
        team, ptype, roster = (home_id, "4", home) if p.offense_home else (visitor_id, "5", visitor)
        pid, name = roster[int(rng.integers(0, 5))]
        desc_key = "HOMEDESCRIPTION" if p.offense_home else "VISITORDESCRIPTION"
        base = {"GAME_ID": game_id, "PERIOD": p.period, "PCTIMESTRING": _fmt_clock(p.end_clock), "PERSON1TYPE": ptype,
                "PLAYER1_ID": pid, "PLAYER1_NAME": name, "PLAYER1_TEAM_ID": team, "EVENTNUM": p.eventnum}
        if p.ending == "turnover":
            rows.append({**base, "EVENTMSGTYPE": TURNOVER, desc_key: f"{name} Bad Pass Turnover"})
            continue
        kind = "3PT Jump Shot" if p.three else "Jump Shot"
        if p.made:
            score[1 if p.offense_home else 0] += 3 if p.three else 2
            rows.append({**base, "EVENTMSGTYPE": MADE, desc_key: f"{name} {kind}", "SCORE": f"{score[0]} - {score[1]}",
                         "SCOREMARGIN": score[1] - score[0]})
        else:
            rows.append({**base, "EVENTMSGTYPE": MISS, desc_key: f"MISS {name} {kind}"})
            d_team, d_ptype, d_roster = (visitor_id, "5", visitor) if p.offense_home else (home_id, "4", home)
            rid, rname = d_roster[int(rng.integers(0, 5))]
            rows.append({**base, "EVENTNUM": p.eventnum + 1, "EVENTMSGTYPE": REBOUND, "PERSON1TYPE": d_ptype,
                         "PLAYER1_ID": rid, "PLAYER1_NAME": rname, "PLAYER1_TEAM_ID": d_team,
                         "HOMEDESCRIPTION" if not p.offense_home else "VISITORDESCRIPTION": f"{rname} REBOUND"})
    return rows


def write_synthetic_games(out_dir: str | Path, n_games: int, *, seed: int = 0,
                          pbp_csv: str | Path | list[str | Path] | None = None, frames_per_second: int = 25,
                          max_possessions: int = 12, max_possession_s: float = 12.0, p_pass_up_open: float = 0.5,
                          outcome_noise: float = 0.15, open_gap_ft: float = 9.0, guard_gap_ft: float = 2.5,
                          p_three: float = 0.35, p_turnover: float = 0.12, p_make_open: float = 0.65,
                          p_make_contested: float = 0.25, overlap_frames: int = 3, bad_frames: int = 1,
                          start_date: str = "2015-10-27", days_between: int = 3, archive: bool = False) -> list[Path]:
    """Write ``n_games`` games (``.json``, or ``.7z`` with ``archive=True``) and return their paths.

    pbp_csv: real play-by-play CSV(s) cycled over the games (outcomes, clocks, scores real), game ``gi`` taking
    the ``gi // len(pbp_csv)``-th window of ``max_possessions`` possessions of its log; None samples
    outcomes (open shots made with ``p_make_open``, contested with ``p_make_contested``). Each event repeats
    the previous event's last ``overlap_frames`` moments (as the real feed does) and ``bad_frames`` moments per
    game carry only 9 players, so the reader's deduplication and drop counts are exercised."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    csvs = [Path(p) for p in ([pbp_csv] if isinstance(pbp_csv, (str, Path)) else (pbp_csv or []))]
    sim = _Sim(rng, frames_per_second, open_gap_ft, guard_gap_ft)
    d0 = dt.date.fromisoformat(start_date)
    paths = []
    for gi in range(n_games):
        game_id = f"00299{gi + 1:05d}"
        date = (d0 + dt.timedelta(days=days_between * gi)).isoformat()
        if csvs:
            # game gi replays window gi // len(csvs) of log gi % len(csvs): no two games share a possession, so
            # a chronological split never tests on possessions (clocks, scores, outcomes) seen in training
            plans, rows, home_id, visitor_id = _plans_from_pbp(csvs[gi % len(csvs)], max_possessions,
                                                               skip=(gi // len(csvs)) * max_possessions)
            home = _team_players(rows, ("4",))
            visitor = _team_players(rows, ("5",))
            for r in rows:
                r["GAME_ID"] = game_id
        else:
            home_id, visitor_id = 1610612700 + 2 * (gi % 15), 1610612701 + 2 * (gi % 15)
            home = [(9000000 + 100 * (gi % 15) + k, f"Home Player{k}") for k in range(5)]
            visitor = [(9000050 + 100 * (gi % 15) + k, f"Away Player{k}") for k in range(5)]
            plans = _sampled_plans(rng, max_possessions, p_three=p_three, p_turnover=p_turnover)
        opens = []
        for p in plans:
            if csvs:   # outcome fixed by the real game: stage made shots open, misses contested (with noise)
                opens.append((p.made if rng.random() >= outcome_noise else not p.made) if p.ending == "shot" else False)
            else:      # sample openness, then the outcome from it
                o = bool(rng.random() < 0.5)
                p.made = p.ending == "shot" and bool(rng.random() < (p_make_open if o else p_make_contested))
                opens.append(o and p.ending == "shot")
        if not csvs:
            rows = _sampled_rows(plans, game_id, home, visitor, home_id, visitor_id, rng)
        pos_labels = ["G", "G", "F", "F", "C"]
        players = {"home": home, "visitor": visitor}
        team = {"home": home_id, "visitor": visitor_id}
        roster = {side: {"name": str(team[side]), "teamid": team[side], "abbreviation": side[:3].upper(),
                         "players": [{"lastname": nm.split(" ")[-1] if nm else f"P{pid}",
                                      "firstname": " ".join(nm.split(" ")[:-1]), "playerid": pid,
                                      "jersey": str(k), "position": pos_labels[k]}
                                     for k, (pid, nm) in enumerate(players[side])]} for side in team}
        events, truth, base_ms, prev_tail, n_bad = [], [], 1445990400000 + gi * 86400000, [], 0
        for p, is_open in zip(plans, opens):
            dur = min(p.start_clock - p.end_clock, max_possession_s)
            pass_up = (not is_open) and p.ending == "shot" and not p.made and rng.random() < p_pass_up_open
            pos, open_idx = sim.run(p, dur, pass_up, is_open)
            right = p.offense_home != (p.period >= 3)            # home attacks right in the first half
            pos = orient(pos, right)
            off_side, def_side = ("home", "visitor") if p.offense_home else ("visitor", "home")
            ids = [(-1, -1)] + [(team[off_side], pid) for pid, _ in players[off_side]] + \
                  [(team[def_side], pid) for pid, _ in players[def_side]]
            moments = list(prev_tail)
            n = pos.shape[0]
            for k in range(n):
                gc = p.end_clock + dur - k / frames_per_second
                sc = max(24.0 - (p.start_clock - gc), 0.0)
                ms = base_ms + int(round(((p.period - 1) * 720.0 + 720.0 - gc) * 1000))
                objs = [[tid, pid, round(float(x), 3), round(float(y), 3), round(float(z), 3)]
                        for (tid, pid), (x, y, z) in zip(ids, pos[k])]
                if n_bad < bad_frames and k == n // 2:
                    objs, n_bad = objs[:-1], n_bad + 1
                moments.append([p.period, ms, round(gc, 2), round(sc, 2), None, objs])
                if k in open_idx:
                    truth.append({"epoch_ms": ms, "better_action": "shoot", "worse_action": "pass",
                                  "behaviour": "shoot" if is_open and k == n - int(frames_per_second) - 1 else "pass"})
            prev_tail = moments[-overlap_frames:] if overlap_frames else []
            events.append({"eventId": str(p.eventnum), "visitor": roster["visitor"], "home": roster["home"],
                           "moments": moments})
        obj = {"gameid": game_id, "gamedate": date, "events": events}
        jpath = out / f"{game_id}.json"
        jpath.write_text(json.dumps(obj, separators=(",", ":")), encoding="utf-8")
        with open(out / f"{game_id}.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(dict.fromkeys(PBP_COLUMNS + (list(rows[0]) if rows else []))),
                               extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        (out / f"{game_id}.truth.json").write_text(json.dumps({"game_id": game_id, "open_frames": truth}), "utf-8")
        if archive:
            import py7zr

            with py7zr.SevenZipFile(out / f"{game_id}.7z", "w") as z:
                z.write(jpath, arcname=jpath.name)
            jpath.unlink()
            jpath = out / f"{game_id}.7z"
        paths.append(jpath)
    return paths
