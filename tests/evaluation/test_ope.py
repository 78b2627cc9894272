"""Importance-sampling OPE and its bootstrap interval over episodes."""

import torch

from lit_agents.evaluation.ope import bootstrap_ope, importance_sampling


def _episodes(n: int, T: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ep = torch.arange(n).repeat_interleave(T)
    st = torch.arange(T).repeat(n)
    r = torch.zeros(n * T)
    r[T - 1::T] = torch.randint(0, 4, (n,), generator=g).float()        # a terminal reward per episode
    lb = torch.log(torch.full((n * T,), 0.5))
    return r, lb, ep, st, g


def test_pi_equal_to_beta_gives_the_behaviour_return_and_an_interval_around_it():
    r, lb, ep, st, _ = _episodes(200, 5)
    out = bootstrap_ope(r, lb, lb, ep, st, n_boot=400)
    point = importance_sampling(r, lb, lb, ep, st)
    assert torch.isclose(point["J"], point["J_behaviour"]) and abs(float(out["diff"])) < 1e-9
    assert float(out["diff_lo"]) == float(out["diff_hi"]) == 0.0          # identical on every resample
    assert out["J_lo"] < point["J"] < out["J_hi"]
    half = float(out["J_hi"] - out["J_lo"]) / 2
    se = float(r.view(200, 5).sum(1).std() / 200 ** 0.5)
    assert 1.5 * se < half < 2.5 * se                                     # ~1.96 standard errors


def test_interval_excludes_zero_only_for_a_real_improvement():
    n, T = 300, 3
    r, lb, ep, st, g = _episodes(n, T, seed=1)
    # the logged last action: 1 (reward 2) or 0 (reward 0), each with pi_beta = 0.5
    a = torch.randint(0, 2, (n,), generator=g)
    r = torch.zeros(n * T)
    r[T - 1::T] = 2.0 * a
    better = torch.log(torch.full((n * T,), 0.5))
    better[T - 1::T] = torch.log(torch.where(a == 1, 0.9, 0.1))         # pi prefers the rewarded action
    up = bootstrap_ope(r, better, lb, ep, st, n_boot=500)
    assert up["diff_lo"] > 0 and abs(float(up["diff"]) - 0.8) < 0.3       # J(pi) ~ 1.8 vs J_beta ~ 1.0
    noise = bootstrap_ope(r, lb + 0.01 * torch.randn(n * T, generator=g), lb, ep, st, n_boot=500)
    assert noise["diff_lo"] < 0 < noise["diff_hi"]
