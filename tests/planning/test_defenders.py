"""PlayBest's scripted defences (``lit_agents.planning.defenders``): on court, speed-limited, reacting."""

import pytest
import torch

from data_modules.basketball.court import COURT_LENGTH, COURT_WIDTH
from lit_agents.planning.defenders import DefenceConfig, ScriptedDefence


@pytest.mark.parametrize("scheme", ["man", "zone"])
def test_scripted_defenders_stay_on_court_and_react(scheme):
    g = torch.Generator().manual_seed(0)
    b, t = 4, 30
    pos = torch.rand(b, t, 11, 3, generator=g) * torch.tensor([60.0, 60.0, 12.0]) - torch.tensor([5.0, 5.0, 0.0])
    pos[:, :, 1:, 2] = 0
    pos[:, 0, 6:11, :2] = pos[:, 0, 6:11, :2].clamp(0.0, 47.0)   # defenders start on court; the offence need not
    d = ScriptedDefence(DefenceConfig(scheme=scheme, max_speed=20.0, seconds_per_step=0.2))
    out = d.roll(pos, start=1)
    defence = out[:, 1:, 6:11]
    assert (defence[..., 0] >= 0).all() and (defence[..., 0] <= COURT_LENGTH).all()
    assert (defence[..., 1] >= 0).all() and (defence[..., 1] <= COURT_WIDTH).all()
    assert (defence[..., 2] == 0).all()
    step = (out[:, 1:, 6:11, :2] - out[:, :-1, 6:11, :2]).norm(dim=-1)
    assert (step <= 20.0 * 0.2 + 1e-4).all()               # speed limit
    assert torch.equal(out[:, :, :6], pos[:, :, :6])        # ball and offence untouched
    assert torch.equal(out[:, 0], pos[:, 0])                # the start frame is kept


def test_man_to_man_converges_between_man_and_basket():
    frame = torch.zeros(1, 11, 3)
    frame[0, 1:6, :2] = torch.tensor([[30.0, 25.0], [25.0, 5.0], [25.0, 45.0], [10.0, 3.0], [12.0, 40.0]])
    frame[0, 0, :2] = frame[0, 1, :2]                          # offender 1 has the ball
    pos = frame[:, None].repeat(1, 80, 1, 1)
    out = ScriptedDefence(DefenceConfig(scheme="man", gap_ball=3.0, gap_help=6.0)).roll(pos)
    final = out[0, -1, 6:11, :2]
    gaps = (final - frame[0, 1:6, :2]).norm(dim=-1)
    assert torch.allclose(gaps, torch.tensor([3.0, 6.0, 6.0, 6.0, 6.0]), atol=1e-3)
    basket = torch.tensor([5.25, 25.0])
    assert ((final - basket).norm(dim=-1) < (frame[0, 1:6, :2] - basket).norm(dim=-1)).all()
