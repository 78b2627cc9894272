"""PlayBest's realism metrics on hand-made plays with known speed, jump, spacing and bounds."""

import torch

from lit_agents.planning.realism import realism


def _play(H: int = 6) -> torch.Tensor:
    pos = torch.zeros(2, H, 11, 3)
    base = torch.tensor([[10.0, 10.0], [10.0, 20.0], [10.0, 30.0], [20.0, 10.0], [20.0, 20.0]])
    for t in range(H):
        pos[:, t, 1:6, :2] = base + torch.tensor([0.5 * t, 0.0])          # offence: 0.5 ft/frame along x
        pos[:, t, 6:11, :2] = base + torch.tensor([2.0, 0.0 + 0.5 * t])   # defence: 0.5 ft/frame along y
    return pos


def test_known_speed_spacing_and_bounds():
    m = realism(_play())
    assert torch.isclose(m["speed"], torch.tensor(0.5)) and torch.isclose(m["first_jump"], torch.tensor(0.5))
    d = torch.cdist(torch.tensor([[10.0, 10.0], [10.0, 20.0], [10.0, 30.0], [20.0, 10.0], [20.0, 20.0]]),
                    torch.tensor([[10.0, 10.0], [10.0, 20.0], [10.0, 30.0], [20.0, 10.0], [20.0, 20.0]]))
    assert torch.isclose(m["offence_spacing"], d.triu(1).sum() / 10)
    assert m["out_of_court"] == 0


def test_a_jump_a_collapse_and_a_player_off_the_floor_are_seen():
    p = _play()
    p[:, 1:, 1:6, :2] = 5.0                          # offence jumps to one spot after the start frame
    p[:, :, 7, 1] = -5.0                             # a defender 5 ft beyond the sideline
    m = realism(p)
    assert m["first_jump"] > 5 and m["offence_spacing"] < realism(_play())["offence_spacing"] / 5
    assert torch.isclose(m["out_of_court"], torch.tensor(0.1))
