"""Correctness anchor outside basketball (issue 19), reduced: on one offline CartPole dataset (random, scripted
expert and naive episodes) our double DQN, trained through Lightning exactly as ReLiable trains, and d3rlpy's
DiscreteCQL both beat behaviour cloning in online rollouts. The full comparison (with d3rlpy's DoubleDQN and our
CQL, over seeds) is ``benchmarks/cartpole_anchor.py``."""

from dataclasses import replace

import pytest

pytest.importorskip("gymnasium", reason="the CartPole anchor needs gymnasium (pip install -e .[rl-anchor])")
pytest.importorskip("d3rlpy", reason="the CartPole anchor needs d3rlpy (pip install -e .[rl-anchor])")

from lit_agents.rl_anchor import AnchorConfig, behaviour_return, collect, evaluate, train_d3rlpy, train_ours  # noqa: E402


@pytest.mark.slow
def test_offline_dqn_beats_behaviour_cloning_on_cartpole(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                       # d3rlpy writes its (no-op) log folder under the cwd
    cfg = replace(AnchorConfig(), n_updates=3000, eval_episodes=5)
    data = collect(cfg, seed=0)
    assert len(data["action"]) > 20000 and behaviour_return(data) < 60     # mostly naive and random episodes
    bc = evaluate(train_d3rlpy("DiscreteBC", data, replace(cfg, n_updates=1000), seed=0), cfg)
    ours = evaluate(train_ours(data, cfg, seed=0), cfg)
    cql = evaluate(train_d3rlpy("DiscreteCQL", data, cfg, seed=0), cfg)
    # behaviour cloning copies the (majority) naive controller; the returns in the data point past it
    assert bc < 120, bc
    assert ours > bc + 40 and cql > bc + 40, (ours, cql, bc)
