"""Frame-labelling rules on hand-built frames, the reward formulas on hand values, state features."""

import math

import numpy as np
import pytest

from data_modules.basketball.court import BASKET_X, BASKET_Y
from data_modules.basketball.features import flat_dim, flat_features, render_frames
from data_modules.basketball.labels import DRIBBLE, PASS, SHOOT, LabelSpec, label_frames, step_actions
from data_modules.basketball.pbp import MADE, MISS, PbpEvent, PbpGame
from data_modules.basketball.rewards import EVENT_REWARDS, negative_binomial_pmf, possession_return, shaped_reward
from data_modules.basketball.shooting import ShootingTable

FPS = 10


def _frames(n: int) -> np.ndarray:
    """Offence standing at fixed spots (player k at x=20+2k, y=10k), defence 3 ft away, ball on player 1."""
    pos = np.zeros((n, 11, 3), np.float32)
    for k in range(5):
        pos[:, 1 + k, :2] = (20.0 + 2 * k, 5.0 + 10 * k)
        pos[:, 6 + k, :2] = (17.0 + 2 * k, 5.0 + 10 * k)
    pos[:, 0] = pos[:, 1]
    pos[:, 0, 2] = 3.0
    return pos


def test_constant_handler_is_dribble():
    lab = label_frames(_frames(30), FPS, shot_attempt=False)
    assert np.all(lab.handler == 0) and np.all(lab.action == DRIBBLE)
    assert lab.counts["fallback_dribble"] == 0


def test_handler_change_beyond_20cm_is_pass():
    pos = _frames(40)
    # ball leaves player 0 at frame 20 and travels to player 1 (10 ft away in y) over 5 frames
    for i, f in enumerate(np.linspace(0.2, 1.0, 5)):
        pos[20 + i, 0, :2] = pos[20, 1, :2] * (1 - f) + pos[20, 2, :2] * f
    pos[25:, 0, :2] = pos[25:, 2, :2]
    lab = label_frames(pos, FPS, shot_attempt=False)
    change = int(np.nonzero(np.diff(lab.handler))[0][0]) + 1
    assert lab.handler[change - 1] == 0 and lab.handler[change] == 1
    assert np.all(lab.action[20:change] == PASS)
    assert lab.action[5] == DRIBBLE and lab.action[35] == DRIBBLE
    assert lab.counts["passes"] == 1


def test_handler_change_within_20cm_is_not_a_pass():
    pos = _frames(40)
    pos[:, 2, :2] = pos[:, 1, :2] + np.array([0.0, 0.4], np.float32)       # two players 12 cm apart
    pos[20:, 0, :2] = pos[20:, 2, :2]
    lab = label_frames(pos, FPS, shot_attempt=False)
    assert PASS not in lab.action and lab.counts["handler_changes_too_close"] >= 1
    # the same frames with a 20 cm threshold lowered to 5 cm become a pass
    lab2 = label_frames(pos, FPS, shot_attempt=False, spec=LabelSpec(pass_min_dist_ft=0.1))
    assert PASS in lab2.action


def _with_shot(pos: np.ndarray, start: int, flight: int, shooter_xy=None) -> np.ndarray:
    if shooter_xy is not None:
        pos[:, 1, :2] = shooter_xy
        pos[:, 0, :2] = shooter_xy
    src = np.array([*pos[start, 1, :2], 7.0])
    rim = np.array([BASKET_X, BASKET_Y, 10.0])
    for i in range(flight):
        f = (i + 1) / flight
        pos[start + i, 0] = src * (1 - f) + rim * f
        pos[start + i, 0, 2] += 8 * 4 * f * (1 - f)
    return pos


def test_ball_above_rim_closing_on_it_is_shoot_and_three_is_flagged():
    pos = _with_shot(_frames(40), start=30, flight=8, shooter_xy=(30.0, 25.0))   # 24.75 ft out: a three
    lab = label_frames(pos, FPS, shot_attempt=True)
    assert lab.counts["shots"] == 1
    shoot = np.nonzero(lab.action == SHOOT)[0]
    assert shoot.min() <= 30 and shoot.max() == 37 and np.all(lab.three[shoot])
    assert np.all(lab.action[:25] == DRIBBLE)
    # same flight from 10 ft: a two
    lab2 = label_frames(_with_shot(_frames(40), 30, 8, shooter_xy=(15.0, 25.0)), FPS, shot_attempt=True)
    assert SHOOT in lab2.action and not lab2.three.any()


def test_no_shoot_without_pbp_attempt_or_when_ball_stays_low():
    pos = _with_shot(_frames(40), start=30, flight=8, shooter_xy=(30.0, 25.0))
    assert SHOOT not in label_frames(pos, FPS, shot_attempt=False).action
    low = pos.copy()
    low[:, 0, 2] = np.minimum(low[:, 0, 2], 9.0)                 # never above the 10 ft rim
    lab = label_frames(low, FPS, shot_attempt=True)
    assert SHOOT not in lab.action and lab.counts["shots_not_found"] == 1


def test_step_actions_keep_short_actions():
    act = np.array([0, 0, 1, 0, 0, 0, 2, 2, 0])
    starts, a, _ = step_actions(act, np.zeros(9, bool), 3)
    assert starts.tolist() == [0, 3, 6] and a.tolist() == [PASS, DRIBBLE, SHOOT]


def test_shaped_reward_hand_values():
    # NB(k; r=5, p=2/3) as "trials until the 5th success": C(k-1, 4) p^5 (1-p)^(k-5)
    nb6 = math.comb(5, 4) * (2 / 3) ** 5 * (1 / 3)
    assert negative_binomial_pmf(6) == pytest.approx(nb6)
    assert negative_binomial_pmf(-6) == pytest.approx(nb6)               # |score_diff|
    assert negative_binomial_pmf(6) == pytest.approx(negative_binomial_pmf(7))     # the chapter's peak at 6
    assert all(negative_binomial_pmf(6) >= negative_binomial_pmf(k) - 1e-12 for k in range(30))
    assert negative_binomial_pmf(3) == 0.0
    # 3 points, shot clock expiring, end of the period, down 6: 3 + 1 + 1 * NB(6)
    assert shaped_reward(3, 0.0, 0.0, -6) == pytest.approx(4 + nb6)
    # 2 points, 12 s left on the shot clock, start of the period: 2 + 0.5 + 0
    assert shaped_reward(2, 12.0, 720.0, 0) == pytest.approx(2.5)
    # a miss at 18 s with 3 minutes left, up 8: 0 + 0.25 + 0.75 * NB(8)
    assert shaped_reward(0, 18.0, 180.0, 8) == pytest.approx(0.25 + 0.75 * negative_binomial_pmf(8))
    assert shaped_reward(0, float("nan"), 720.0, 0) == 0.0


def test_event_rewards_table():
    assert EVENT_REWARDS == {"3pt_made": 3.0, "2pt_made": 2.0, "ft_made": 1.0, "rebound": 0.25, "foul": -0.25,
                             "violation": -0.25, "turnover": -1.0}
    assert possession_return(["rebound", "miss", "rebound", "2pt_made", "ft_made"]) == pytest.approx(3.5)
    assert possession_return(["foul", "turnover", "defensive_foul"]) == pytest.approx(-1.25)


def test_images_and_flat_features_in_unit_range():
    pos = _frames(6)
    pos[:, 1, 0] += np.arange(6)                                     # player 1 moving
    fg2, fg3 = np.full(5, 0.5, np.float32), np.full(5, 0.3, np.float32)
    img = render_frames(pos, fg2, fg3, trail=3)
    assert img.shape == (6, 17, 47, 50) and img.min() >= 0 and img.max() <= 1
    assert (img[-1, 2] > 0).sum() == 3                               # trail of 3 cells for the moving player
    assert img[-1, 2].max() == 1.0 and sorted(np.unique(img[-1, 2]))[1] == pytest.approx(1 / 3)
    assert {round(float(v), 3) for v in np.unique(img[-1, 12])} <= {0.0, 0.5, 0.3}
    f = flat_features(300.0, 30.0, 2, fg2, fg3, -25, pos[-1], 0, score_diff_max=10)
    assert f.shape == (flat_dim(10),) and f.min() >= 0 and f.max() <= 1
    assert f[13] == 1.0 and f[13:34].sum() == 1.0                   # score difference clipped to -10, one-hot


def test_shooting_percentages_use_only_earlier_games():
    def game(made: int, missed: int) -> PbpGame:
        evs = [PbpEvent("g", i, MADE if i < made else MISS, 1, 1, 600.0, "Jump Shot", None, 1, 7)
               for i in range(made + missed)]
        return PbpGame("g", evs, 1, 2)

    t = ShootingTable(league_fg2=0.5, prior_attempts=10)
    before_first = t.percentages(np.array([7]))[0][0]
    assert before_first == pytest.approx(0.5)                        # first game: league prior only
    t.update(game(10, 0), "2015-11-01")
    assert t.percentages(np.array([7]))[0][0] == pytest.approx((10 + 5) / 20)
    with pytest.raises(ValueError, match="date order"):
        t.update(game(1, 0), "2015-10-01")
