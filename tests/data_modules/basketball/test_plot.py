"""The one court drawing (``data_modules.basketball.plot``): PlayBest's plans and ReLiable's decisions alike."""

import numpy as np
import pytest

from data_modules.basketball.plot import plot_possession


def _positions(t=6):
    rng = np.random.default_rng(0)
    return rng.uniform([0, 0, 0], [47, 50, 8], size=(t, 11, 3)).astype(np.float32)


def test_plans_and_decisions_draw_on_the_same_court(tmp_path):
    plan = plot_possession(_positions(), tmp_path / "plans" / "plan.png", title="a plan")
    decisions = plot_possession(_positions(), tmp_path / "reliable.png",
                                actions=([0, 1, 2, 2, 1, 0], [2, 2, 2, 1, 1, 0], ("dribble", "pass", "shoot")))
    for path in (plan, decisions):
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input_is_refused_with_the_shapes():
    with pytest.raises(ValueError, match=r"\[T, 11, 3\]"):
        plot_possession(np.zeros((4, 10, 3)), "unused.png")
    with pytest.raises(ValueError, match="2 logged and 3 chosen for 6 steps"):
        plot_possession(_positions(), "unused.png", actions=([0, 1], [0, 1, 2], ("a", "b")))
