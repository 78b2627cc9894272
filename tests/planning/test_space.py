"""The planner's trajectory space (``lit_agents.planning.space``): exact round trips, the start state known on
every frame, and replanning's executed frames clamped (issue 19 item 5: the manifold fix)."""

import pytest
import torch

from data_modules.basketball.trajectories import MinMaxNormalizer, position_channels, to_features, to_positions
from lit_agents.planning.space import KINDS, TrajectorySpace

POS = position_channels()


def _trajectories(b=3, h=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    start = torch.rand(b, 1, 11, 3, generator=g) * torch.tensor([47.0, 50.0, 0.0])
    steps = torch.randn(b, h - 1, 11, 3, generator=g) * torch.tensor([1.0, 1.0, 0.0])
    pos = torch.cat([start, start + steps.cumsum(dim=1)], dim=1)
    pos[..., 0, 2] = 1.5 + torch.rand(b, h, generator=g) * 8                # the ball's height varies
    return to_features(pos)


@pytest.mark.parametrize("kind", KINDS)
def test_encode_decode_round_trip_in_feet(kind):
    traj = _trajectories()
    space = TrajectorySpace(MinMaxNormalizer.fit(traj), kind)
    x = space.encode(traj)
    assert x.shape == traj.shape and x.abs().max() <= 1 + 1e-5         # inside the sampler's clip range
    assert torch.allclose(space.decode(x), traj, atol=1e-3)
    assert torch.allclose(space.positions(x), to_positions(traj), atol=1e-3)


@pytest.mark.parametrize("kind", ["offsets", "velocities"])
def test_start_state_is_known_on_every_frame(kind):
    """The inpainted entries alone fix the start: frame 0 decodes to it whatever the free entries hold."""
    traj = _trajectories()
    space = TrajectorySpace(MinMaxNormalizer.fit(traj), kind)
    values, mask = space.condition(to_positions(traj[:, :1]), traj.shape[1])
    assert mask[:, [c for c in range(66) if c not in POS] if kind == "offsets" else POS].all()
    noise = torch.randn(values.shape, generator=torch.Generator().manual_seed(1))
    plan = space.positions(torch.where(mask, values, noise))
    assert torch.allclose(plan[:, 0], to_positions(traj[:, 0]), atol=1e-3)


def test_offsets_zero_output_stays_at_the_start():
    """An untrained denoiser's zero offsets are the start state held still (not the data's mean position)."""
    traj = _trajectories()
    space = TrajectorySpace(MinMaxNormalizer.fit(traj), "offsets")
    values, mask = space.condition(to_positions(traj[:, :1]), traj.shape[1])
    plan = space.positions(torch.where(mask, values, torch.zeros_like(values)))
    assert torch.allclose(plan, to_positions(traj[:, :1]).expand_as(plan), atol=1e-3)


@pytest.mark.parametrize("kind", KINDS)
def test_replanning_clamps_every_executed_position(kind):
    traj = _trajectories()
    space = TrajectorySpace(MinMaxNormalizer.fit(traj), kind)
    k = 5
    values, mask = space.condition(to_positions(traj[:, :k]), traj.shape[1])
    noise = torch.randn(values.shape, generator=torch.Generator().manual_seed(2))
    plan = space.positions(torch.where(mask, values, noise))
    assert torch.allclose(plan[:, :k], to_positions(traj[:, :k]), atol=1e-3)
    assert not torch.allclose(plan[:, k:], to_positions(traj[:, k:]), atol=1e-1)   # the rest is the sampler's


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="diffusion.space"):
        TrajectorySpace(MinMaxNormalizer(torch.zeros(66), torch.ones(66)), "absolute")


def test_delta_scale_multiplies_the_moves_of_velocities_and_round_trips():
    """``delta_scale`` scales only the delta channels (the start codes stay in [-1, 1]) and decodes back to feet;
    the other spaces ignore it."""
    traj = _trajectories()
    norm = MinMaxNormalizer.fit(traj)
    plain, scaled = TrajectorySpace(norm, "velocities"), TrajectorySpace(norm, "velocities", delta_scale=4.0)
    x1, x4 = plain.encode(traj), scaled.encode(traj)
    delta = [c for c in range(66) if c not in POS]
    assert torch.allclose(x4[..., delta], 4 * x1[..., delta]) and torch.equal(x4[..., POS], x1[..., POS])
    assert torch.allclose(scaled.decode(x4), traj, atol=1e-3)
    assert torch.equal(TrajectorySpace(norm, "features", delta_scale=4.0).encode(traj),
                       TrajectorySpace(norm, "features").encode(traj))
    with pytest.raises(ValueError, match="delta_scale"):
        TrajectorySpace(norm, "velocities", delta_scale=0.0)
