"""Correctness anchor outside basketball (issue 19), reduced. On offline CartPole data (random, scripted expert and
naive episodes): (1) our double DQN, trained through Lightning exactly as ReLiable trains, and d3rlpy's DoubleDQN /
DiscreteCQL configured like it make the same updates from the same weights on the same minibatches; (2) d3rlpy
reads the same transitions (terminals vs timeouts) from our rows; (3) ours and d3rlpy's DoubleDQN both beat
behaviour cloning in online rollouts. The full comparison (over seeds, with CQL): ``benchmarks/cartpole_anchor.py``."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("gymnasium", reason="the CartPole anchor needs gymnasium (pip install -e .[rl-anchor])")
d3rlpy = pytest.importorskip("d3rlpy", reason="the CartPole anchor needs d3rlpy (pip install -e .[rl-anchor])")

from lit_agents.rl_anchor import (  # noqa: E402
    AnchorConfig,
    behaviour_return,
    build_ours,
    collect,
    d3rlpy_config,
    d3rlpy_dataset,
    evaluate,
    fit_ours,
    train_d3rlpy,
    train_ours,
)

SMALL = replace(AnchorConfig(), n_random=4, n_expert=1, n_naive=4, max_episode_steps=60, batch_size=32)


def _linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("kind", ["DoubleDQN", "DiscreteCQL"])
def test_our_updates_equal_d3rlpys_from_the_same_weights(kind, tmp_path, monkeypatch):
    """Same initial weights, same minibatches in the same order: after 8 updates every parameter of our Q-network
    equals d3rlpy's. Target copied after every update on both sides (their schedules are off by one otherwise)."""
    monkeypatch.chdir(tmp_path)
    cfg = replace(SMALL, n_updates=8, target_update_every=1)
    data = collect(cfg, seed=0)
    n = cfg.n_updates * cfg.batch_size
    assert data["terminal"][:n].sum() >= 3                # the batches hold episode ends (no bootstrap there)
    ours = build_ours(cfg, seed=0, cql=kind == "DiscreteCQL")
    init = [lin.weight.detach().clone() for lin in _linears(ours.online)]

    algo = d3rlpy_config(kind, cfg).create(device="cpu:0")
    algo.create_impl((4,), 2)
    theirs = _linears(algo.impl.q_function[0])
    assert [tuple(t.weight.shape) for t in theirs] == [tuple(o.weight.shape) for o in _linears(ours.online)]
    with torch.no_grad():
        for t, o in zip(theirs, _linears(ours.online)):
            t.weight.copy_(o.weight)
            t.bias.copy_(o.bias)
    algo.impl.update_target()
    for b in range(cfg.n_updates):
        rows = range(b * cfg.batch_size, (b + 1) * cfg.batch_size)
        algo.update(d3rlpy.dataset.TransitionMiniBatch.from_transitions([d3rlpy.dataset.Transition(
            observation=data["obs"][i], action=data["action"][i:i + 1], reward=data["reward"][i:i + 1],
            next_observation=data["next_obs"][i], next_action=np.zeros(1, np.int64),
            terminal=float(data["terminal"][i]), interval=1, rewards_to_go=data["reward"][i:i + 1, None])
            for i in rows]))

    fit_ours(ours, data, cfg, shuffle=False)
    moved = max(float((lin.weight.detach() - w0).abs().max()) for lin, w0 in zip(_linears(ours.online), init))
    assert moved > 1e-3, moved                            # the updates did change the network
    for t, o in zip(theirs, _linears(ours.online)):
        torch.testing.assert_close(o.weight, t.weight, rtol=0, atol=1e-6)
        torch.testing.assert_close(o.bias, t.bias, rtol=0, atol=1e-6)


def test_d3rlpy_reads_our_terminals_and_timeouts():
    """d3rlpy's dataset from our rows: one episode per logged episode, terminated iff the pole fell, and the same
    (s, a, r, s', terminal) transitions (a timed-out episode loses only its last step, which has no s' there)."""
    data = collect(replace(SMALL, n_expert=2), seed=0)
    assert data["timeout"].sum() >= 1 and data["terminal"].sum() >= 1
    episodes = d3rlpy_dataset(data).episodes
    assert len(episodes) == len(np.unique(data["episode"]))
    picker = d3rlpy.dataset.BasicTransitionPicker()
    for ep, e in zip(np.unique(data["episode"]), episodes):
        rows = np.flatnonzero(data["episode"] == ep)
        assert e.terminated == bool(data["terminal"][rows[-1]]) != bool(data["timeout"][rows[-1]])
        assert e.transition_count == len(rows) - (0 if e.terminated else 1)
        for j in range(e.transition_count):
            t, i = picker(e, j), rows[j]
            np.testing.assert_array_equal(t.observation, data["obs"][i])
            assert int(t.action[0]) == data["action"][i] and float(t.reward[0]) == data["reward"][i]
            assert t.terminal == float(data["terminal"][i])
            if not data["terminal"][i]:
                np.testing.assert_array_equal(t.next_observation, data["next_obs"][i])


@pytest.mark.slow
def test_offline_dqn_beats_behaviour_cloning_on_cartpole(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                       # d3rlpy writes its (no-op) log folder under the cwd
    cfg = replace(AnchorConfig(), n_updates=3000, eval_episodes=5)
    data = collect(cfg, seed=0)
    assert len(data["action"]) > 20000 and behaviour_return(data) < 60     # mostly naive and random episodes
    bc = evaluate(train_d3rlpy("DiscreteBC", data, replace(cfg, n_updates=1000), seed=0), cfg)
    ours = evaluate(train_ours(data, cfg, seed=0), cfg)
    theirs = evaluate(train_d3rlpy("DoubleDQN", data, cfg, seed=0), cfg)
    # behaviour cloning copies the (majority) naive controller; the returns in the data point past it, and the
    # two double DQNs (same network and updates) both find that
    assert bc < 120, bc
    assert ours > bc + 40 and theirs > bc + 40, (ours, theirs, bc)
