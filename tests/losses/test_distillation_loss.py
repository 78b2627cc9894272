import pytest
import torch
import torch.nn.functional as F

from lit_agents.losses.distillation import IGNORE, sequence_logprob, task_nll, tinyllm_loss


def _batch(b=3, t=5, v=11, seed=0, pad_from=3):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, t, v, generator=g)
    labels = torch.randint(0, v, (b, t), generator=g)
    labels[0, pad_from:] = IGNORE  # a padded row
    return logits, labels


def _manual_token_mean(logits, labels):
    tot, n = 0.0, 0
    for i in range(labels.shape[0]):
        for j in range(labels.shape[1]):
            if labels[i, j] != IGNORE:
                tot += -torch.log_softmax(logits[i, j], -1)[labels[i, j]]
                n += 1
    return tot / n


def test_task_nll_is_token_mean_over_unpadded_positions():
    logits, labels = _batch()
    assert torch.allclose(task_nll(logits, labels), _manual_token_mean(logits, labels), atol=1e-5)


def test_task_nll_refuses_empty_targets_and_misaligned_shapes():
    logits, labels = _batch()
    with pytest.raises(ValueError, match="no target tokens"):
        task_nll(logits, torch.full_like(labels, IGNORE))
    with pytest.raises(ValueError, match="do not align"):
        task_nll(logits[:, :-1], labels)


def test_loss_equals_weighted_sum_of_per_task_losses():
    tasks = {name: _batch(seed=s) for s, name in enumerate(["label", "flan-t5", "llama"])}
    per_task = {k: task_nll(*v) for k, v in tasks.items()}
    weights = {"label": 0.5, "flan-t5": 2.0, "llama": 0.1}
    total = tinyllm_loss(per_task, weights)
    expected = sum(weights[k] * _manual_token_mean(*tasks[k]) for k in tasks)
    assert torch.allclose(total, expected, atol=1e-5)
    # a zero weight removes a task's gradient entirely
    leaf = {k: v[0].clone().requires_grad_(True) for k, v in tasks.items()}
    total = tinyllm_loss({k: task_nll(leaf[k], tasks[k][1]) for k in tasks}, {**weights, "llama": 0.0})
    total.backward()
    assert leaf["llama"].grad.abs().sum() == 0 and leaf["label"].grad.abs().sum() > 0


def test_missing_task_is_left_out_and_unknown_task_is_an_error():
    per_task = {"label": torch.tensor(2.0), "t1": torch.tensor(3.0)}
    assert float(tinyllm_loss(per_task, {"label": 1.0, "t1": 2.0, "t2": 5.0})) == pytest.approx(8.0)
    with pytest.raises(KeyError, match="t1"):
        tinyllm_loss(per_task, {"label": 1.0})
    with pytest.raises(ValueError):
        tinyllm_loss({}, {"label": 1.0})


def test_sequence_logprob_sum_and_mean():
    logits, labels = _batch()
    s = sequence_logprob(logits, labels, "sum")
    m = sequence_logprob(logits, labels, "mean")
    for i in range(labels.shape[0]):
        keep = labels[i] != IGNORE
        lp = torch.log_softmax(logits[i], -1)[keep].gather(-1, labels[i][keep].unsqueeze(-1)).sum()
        assert torch.allclose(s[i], lp, atol=1e-5)
        assert torch.allclose(m[i], lp / keep.sum(), atol=1e-5)
    assert s.shape == (3,)
    with pytest.raises(ValueError):
        sequence_logprob(logits, labels, "max")


def test_sequence_logprob_ranks_the_option_the_logits_favour():
    v = 6
    labels = torch.tensor([[1, 2, IGNORE], [3, 4, 5]])
    logits = torch.full((2, 3, v), -5.0)
    logits[0, 0, 1] = logits[0, 1, 2] = 5.0  # option 0 is near-certain
    scores = sequence_logprob(logits, labels, "mean")
    assert int(scores.argmax()) == 0
    assert torch.allclose(-scores[0] * 2, F.cross_entropy(logits[0, :2], labels[0, :2], reduction="sum"))
