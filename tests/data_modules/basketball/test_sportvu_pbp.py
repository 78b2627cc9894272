"""SportVU and play-by-play readers: the real archive, synthetic games in the public schema, clear errors."""

import json

import numpy as np
import pytest

from data_modules.basketball.pbp import pbp_possessions, read_pbp
from data_modules.basketball.possessions import iter_possessions
from data_modules.basketball.sportvu import read_sportvu_game
from data_modules.basketball.synthetic import write_synthetic_games
from data_modules.io import samples_dir
from lit_agents.fileio import DataError

SAMPLES = samples_dir() / "reliable"


def test_real_sportvu_7z_parses_rosters_without_moments():
    g = read_sportvu_game(SAMPLES / "01.23.2016.CHI.at.CLE.7z")
    assert (g.game_id, g.game_date) == ("0021500659", "2016-01-23")
    assert (g.home_team_id, g.visitor_team_id) == (1610612739, 1610612741)      # CLE home, CHI visitor
    assert g.n_events == 466 and g.n_frames == 0 and len(g.players) >= 26
    assert any(p["name"] == "LeBron James" for p in g.players.values())


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    d = tmp_path_factory.mktemp("games")
    paths = write_synthetic_games(d, 2, seed=1, pbp_csv=SAMPLES / "0021500659.csv", frames_per_second=5,
                                  max_possessions=5, overlap_frames=3, bad_frames=1)
    return d, paths


def test_synthetic_game_roundtrip_counts_duplicates_and_bad_frames(synth):
    d, paths = synth
    raw = json.loads(paths[0].read_text())
    n_events = len(raw["events"])
    n_moments = sum(len(e["moments"]) for e in raw["events"])
    g = read_sportvu_game(paths[0])
    assert g.n_duplicates == 3 * (n_events - 1)              # each event repeats the last 3 moments of the previous
    assert g.n_dropped_players == 1 and g.n_dropped_no_ball == 0
    assert g.n_frames == n_moments - g.n_duplicates - 1
    assert np.all(np.diff(g.epoch_ms) > 0)                   # sorted, no duplicate left
    assert g.positions.shape == (g.n_frames, 11, 3) and np.all(g.player_ids[:, 0] == -1)


def test_possessions_follow_real_pbp_and_are_oriented(synth):
    d, paths = synth
    poss = list(iter_possessions(paths[:1], pbp_dir=d, min_frames=5))
    real = pbp_possessions(read_pbp(SAMPLES / "0021500659.csv"))
    assert len(poss) >= 4
    first = [p for p in real if p.start_clock - p.end_clock >= 2.0][0]
    assert poss[0].offense_team_id == first.offense_team_id and poss[0].events == first.events
    for p in poss:
        assert p.positions.shape[1:] == (11, 3) and p.positions.dtype == np.float32
        assert p.positions[:, 1:6, 0].mean() < 47.0                              # attacks the left basket
        assert p.player_ids[0] == -1 and len(set(p.player_ids[1:].tolist())) == 10
        if "3pt_made" in p.events:
            assert p.points >= 3 and p.shot_three


def test_pbp_possession_points_add_up_to_final_score():
    g = read_pbp(SAMPLES / "0021500659.csv")
    poss = pbp_possessions(g)
    final = [e.score for e in g.events if e.score][-1]
    home = sum(p.points for p in poss if p.offense_team_id == g.home_team_id)
    away = sum(p.points for p in poss if p.offense_team_id == g.visitor_team_id)
    assert (away, home) == final


def test_truncated_json_names_file_and_line(synth, tmp_path):
    _, paths = synth
    bad = tmp_path / "bad.json"
    bad.write_text(paths[0].read_text()[:5000])
    with pytest.raises(DataError, match=r"bad\.json.*truncated"):
        read_sportvu_game(bad)


def test_malformed_moment_names_event_and_moment(tmp_path):
    obj = {"gameid": "1", "gamedate": "2016-01-01", "events": [
        {"eventId": "7", "home": {"teamid": 1, "players": []}, "visitor": {"teamid": 2, "players": []},
         "moments": [[1, 10, 700.0, 20.0, None, [[-1, -1, 1, 2, "high"]]]]}]}
    p = tmp_path / "g.json"
    p.write_text(json.dumps(obj))
    with pytest.raises(DataError, match=r"eventId 7.*moment 0.*objects"):
        read_sportvu_game(p)


def test_truncated_7z_is_a_data_error(tmp_path):
    blob = (SAMPLES / "01.23.2016.CHI.at.CLE.7z").read_bytes()
    p = tmp_path / "cut.7z"
    p.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="cut.7z"):
        read_sportvu_game(p)


def test_bad_pbp_clock_names_line(tmp_path):
    lines = (SAMPLES / "0021500659.csv").read_text().splitlines()
    cols = lines[3].split(",")
    cols[6] = "11-34"
    lines[3] = ",".join(cols)
    p = tmp_path / "pbp.csv"
    p.write_text("\n".join(lines))
    with pytest.raises(DataError, match=r"line 4.*PCTIMESTRING"):
        read_pbp(p)
