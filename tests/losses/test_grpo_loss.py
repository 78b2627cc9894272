"""Hand-computed checks of the pure GRPO loss functions."""
import math

import pytest
import torch

from lit_agents.losses.grpo import (
    aggregate_loss,
    global_nanstd,
    group_advantages,
    grpo_loss,
    k3_kl,
    log_importance_weights,
    nanstd,
    selective_log_softmax,
)

NAN = float("nan")


def test_group_advantages_zero_mean_and_hand_values():
    rewards = torch.tensor([1.0, 2.0, 3.0, 5.0, 5.0, 5.0])
    adv, std = group_advantages(rewards, num_generations=3, scale_rewards="group")
    # group 1: mean 2, unbiased std 1 -> (-1, 0, 1) / (1 + 1e-4); group 2 has zero variance -> zeros
    expected = torch.tensor([-1.0, 0.0, 1.0, 0.0, 0.0, 0.0]) / torch.tensor([1 + 1e-4] * 3 + [1e-4] * 3)
    assert torch.allclose(adv, expected, atol=1e-6)
    assert torch.allclose(adv.view(2, 3).mean(1), torch.zeros(2), atol=1e-6)
    assert torch.allclose(std, torch.tensor([1.0, 0.0]))


def test_group_advantages_none_and_batch_scaling():
    rewards = torch.tensor([0.0, 2.0, 1.0, 1.0])
    adv_none, _ = group_advantages(rewards, 2, scale_rewards="none")
    assert torch.allclose(adv_none, torch.tensor([-1.0, 1.0, 0.0, 0.0]))
    assert torch.equal(group_advantages(rewards, 2, scale_rewards=False)[0], adv_none)
    adv_batch, _ = group_advantages(rewards, 2, scale_rewards="batch")
    batch_std = math.sqrt(((0 - 1) ** 2 + (2 - 1) ** 2 + 0 + 0) / 3)  # unbiased std of all four rewards
    assert torch.allclose(adv_batch, torch.tensor([-1.0, 1.0, 0.0, 0.0]) / (batch_std + 1e-4))
    with pytest.raises(ValueError):
        group_advantages(torch.ones(5), 2)
    with pytest.raises(ValueError):
        group_advantages(rewards, 2, scale_rewards="bogus")


def test_unscorable_completions_leave_the_group_statistics_and_get_zero_advantage():
    """Issue 14 item 18: a NaN reward (every reward function abstained) is out of mean/std, advantage 0 (TRL)."""
    adv, std = group_advantages(torch.tensor([1.0, 0.0, NAN, NAN]), 4)
    r = 0.5 / (math.sqrt(0.5) + 1e-4)  # group {1, 0}: mean 0.5, unbiased std sqrt(0.5)
    assert torch.allclose(adv, torch.tensor([r, -r, 0.0, 0.0]), atol=1e-6) and round(r, 2) == 0.71
    assert torch.allclose(std, torch.tensor([math.sqrt(0.5)]))
    adv, std = group_advantages(torch.tensor([1.0, 1.0, 1.0, NAN]), 4)
    assert torch.equal(adv, torch.zeros(4)) and float(std) == 0.0
    # one scored completion or none: no spread, no signal, no NaN
    for rewards in ([NAN, 2.0, NAN], [NAN, NAN, NAN]):
        for mode in ("group", "batch", "none"):
            adv, std = group_advantages(torch.tensor(rewards), 3, mode)
            assert torch.equal(adv, torch.zeros(3)) and float(std) == 0.0
    # batch scaling: the std of the scored rewards of the whole batch; NaN rows stay at 0
    rewards = torch.tensor([1.0, 0.0, NAN, NAN, 4.0, NAN, 2.0, NAN])
    adv, _ = group_advantages(rewards, 4, "batch")
    s = float(torch.tensor([1.0, 0.0, 4.0, 2.0]).std())
    assert torch.allclose(adv, torch.tensor([0.5, -0.5, 0, 0, 1.0, 0, -1.0, 0]) / (s + 1e-4), atol=1e-6)
    # issue 14 item 19: under DDP the module passes the std over all ranks
    assert torch.allclose(group_advantages(rewards, 4, "batch", batch_std=2.0)[0],
                          torch.tensor([0.5, -0.5, 0, 0, 1.0, 0, -1.0, 0]) / (2.0 + 1e-4))


def test_nanstd_equals_the_std_of_the_scored_values():
    x = torch.tensor([[1.0, NAN, 3.0], [NAN, NAN, 2.0]])
    assert torch.allclose(nanstd(x, dim=1)[:1], torch.tensor([math.sqrt(2.0)])) and torch.isnan(nanstd(x, dim=1)[1])
    assert torch.allclose(nanstd(x), torch.tensor([1.0, 3.0, 2.0]).std())
    assert torch.allclose(global_nanstd(x.reshape(-1)), torch.tensor([1.0, 3.0, 2.0]).std())
    assert torch.isnan(global_nanstd(torch.tensor([NAN, 1.0])))


def _global_std_worker(rank: int, port: int, out_dir: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        local = [torch.tensor([1.0, NAN, 5.0, 2.0]), torch.tensor([0.0, 7.0])][rank]  # uneven rows per rank

        def reduce(t):
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
            return t

        torch.save(global_nanstd(local, reduce), f"{out_dir}/std{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_batch_std_is_the_std_over_all_ranks(tmp_path):
    """Issue 14 item 19: ``scale_rewards: batch`` divides by the std of every rank's rewards (TRL's global std)."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.start_processes(_global_std_worker, args=(port, str(tmp_path)), nprocs=2, start_method="fork")
    expected = torch.tensor([1.0, 5.0, 2.0, 0.0, 7.0]).std()
    for rank in (0, 1):
        assert torch.allclose(torch.load(tmp_path / f"std{rank}.pt", weights_only=True), expected)


def test_k3_kl_hand_value_and_zero_when_equal():
    p = torch.log(torch.tensor([[0.5, 0.2]]))
    q = torch.log(torch.tensor([[0.25, 0.2]]))
    kl = k3_kl(p, q)
    # exp(q - p) - (q - p) - 1 with q - p = log(0.5): 0.5 + log 2 - 1
    assert kl[0, 0].item() == pytest.approx(0.5 + math.log(2) - 1, abs=1e-6)
    assert kl[0, 1].item() == pytest.approx(0.0, abs=1e-7)
    assert (k3_kl(torch.randn(3, 4), torch.randn(3, 4)) >= 0).all()


def test_single_iteration_ratio_one_and_policy_gradient_form():
    logps = torch.tensor([[-1.0, -2.0, -0.5], [-0.3, -0.7, -9.0]], requires_grad=True)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    adv = torch.tensor([0.5, -2.0])
    out = grpo_loss(logps, mask, adv, beta=0.0, loss_type="grpo")
    # ratio = 1 -> loss = -mean_i mean_t A_i
    assert out.loss.item() == pytest.approx(-(0.5 + -2.0) / 2, abs=1e-6)
    out.loss.backward()
    # d/dlogp = -A_i / (len_i * B) on active tokens, 0 on padding
    expected = torch.tensor([[-0.5 / 6, -0.5 / 6, -0.5 / 6], [2.0 / 4, 2.0 / 4, 0.0]])
    assert torch.allclose(logps.grad, expected, atol=1e-6)
    assert out.clip_region.item() == 0.0


def test_clipping_hand_values_and_asymmetric_epsilon():
    old = torch.zeros(2, 1)
    logps = torch.tensor([[math.log(1.5)], [math.log(0.5)]], requires_grad=True)
    mask = torch.ones(2, 1)
    adv = torch.tensor([1.0, -1.0])
    out = grpo_loss(logps, mask, adv, old, epsilon=0.2, loss_type="bnpo")
    # seq 0: min(1.5, 1.2) * 1 = 1.2 ; seq 1: min(0.5 * -1, 0.8 * -1) = -0.8 -> loss = -(1.2 - 0.8) / 2
    assert out.loss.item() == pytest.approx(-(1.2 - 0.8) / 2, abs=1e-6)
    out.loss.backward()
    assert torch.allclose(logps.grad, torch.zeros_like(logps.grad))  # both clipped -> no gradient
    assert out.clip_high.item() == pytest.approx(0.5) and out.clip_low.item() == pytest.approx(0.5)
    out_hi = grpo_loss(logps.detach(), mask, adv, old, epsilon=0.2, epsilon_high=0.6, loss_type="bnpo")
    assert out_hi.loss.item() == pytest.approx(-(1.5 - 0.8) / 2, abs=1e-6)  # 1.5 < 1.6: not clipped
    assert out_hi.clip_high.item() == 0.0


def test_sequence_level_importance_weights_gspo():
    logps = torch.tensor([[-1.0, -1.0, 0.0]])
    old = torch.tensor([[-1.5, -0.5, 5.0]])
    mask = torch.tensor([[1, 1, 0]])
    w_tok = log_importance_weights(logps, old, mask, "token")
    assert torch.allclose(w_tok, torch.tensor([[0.5, -0.5, -5.0]]))
    w_seq = log_importance_weights(logps, old, mask, "sequence")
    assert w_seq.shape == (1, 1) and w_seq.item() == pytest.approx(0.0)
    out = grpo_loss(logps, mask, torch.tensor([2.0]), old, importance_sampling_level="sequence")
    assert out.loss.item() == pytest.approx(-2.0, abs=1e-6)  # sequence ratio exp(0) = 1


def test_loss_type_normalisers():
    per_tok = torch.tensor([[1.0, 2.0, 3.0, 0.0], [4.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    assert aggregate_loss(per_tok, mask, "grpo").item() == pytest.approx((6 / 3 + 4 / 1) / 2)
    assert aggregate_loss(per_tok, mask, "bnpo").item() == pytest.approx(10 / 4)
    assert aggregate_loss(per_tok, mask, "dr_grpo", max_completion_length=5).item() == pytest.approx(10 / (2 * 5))
    assert aggregate_loss(per_tok, mask, "dapo").item() == pytest.approx(10 / 4)
    assert aggregate_loss(per_tok, mask, "dapo", num_items_in_batch=8).item() == pytest.approx(10 / 8)
    with pytest.raises(ValueError):
        aggregate_loss(per_tok, mask, "ppo")


def test_kl_term_zero_when_policy_equals_reference_and_positive_otherwise():
    logps = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    mask = torch.ones(1, 2)
    adv = torch.tensor([1.0])
    base = grpo_loss(logps, mask, adv, beta=0.0)
    same = grpo_loss(logps, mask, adv, ref_per_token_logps=logps.detach().clone(), beta=0.5)
    assert same.kl.item() == pytest.approx(0.0, abs=1e-7)
    assert same.loss.item() == pytest.approx(base.loss.item(), abs=1e-7)
    ref = torch.tensor([[-1.5, -2.0]])
    diff = grpo_loss(logps, mask, adv, ref_per_token_logps=ref, beta=0.5)
    kl0 = math.exp(-0.5) + 0.5 - 1
    assert diff.kl.item() == pytest.approx(kl0 / 2, abs=1e-6)
    assert diff.loss.item() == pytest.approx(base.loss.item() + 0.5 * kl0 / 2, abs=1e-6)
    with pytest.raises(ValueError):
        grpo_loss(logps, mask, adv, beta=0.1)


def test_selective_log_softmax_matches_full_softmax_with_temperature():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 7)
    idx = torch.randint(0, 7, (2, 3))
    got = selective_log_softmax(logits, idx, temperature=0.7)
    ref = torch.log_softmax(logits / 0.7, -1).gather(-1, idx.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(got, ref, atol=1e-6)


def test_clipped_surrogate_takes_the_pessimistic_branch():
    from lit_agents.losses.grpo import clipped_surrogate

    coef = torch.tensor([[1.5, 0.5, 1.0]])
    # positive advantage: ratio 1.5 is clipped to 1.2, ratio 0.5 is kept (min), 1.0 unchanged
    pos = clipped_surrogate(coef, torch.tensor([2.0]), epsilon_low=0.2, epsilon_high=0.2)
    assert torch.allclose(pos, torch.tensor([[-2.4, -1.0, -2.0]]))
    # negative advantage: ratio 0.5 is clipped up to 0.8 (the larger loss), 1.5 kept
    neg = clipped_surrogate(coef, torch.tensor([-1.0]), epsilon_low=0.2, epsilon_high=0.28)
    assert torch.allclose(neg, torch.tensor([[1.5, 0.8, 1.0]]))
