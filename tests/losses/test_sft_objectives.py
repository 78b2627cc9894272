"""The "Beyond Log Likelihood" SFT objectives on hand-computed values (p = 0.5, 0.25, 0.9)."""
import math

import pytest
import torch

from lit_agents.losses.sft_objectives import OBJECTIVES, masked_objective, token_objective

P = torch.tensor([0.5, 0.25, 0.9])
LN = [math.log(2), math.log(4), -math.log(0.9)]  # -log p


def _logits_labels() -> tuple[torch.Tensor, torch.Tensor]:
    """[1, 4, 2] logits whose softmax gives the target class probability P (label 0), plus one ignored token."""
    rows = [[math.log(p), math.log(1 - p)] for p in P.tolist()] + [[0.0, 0.0]]
    return torch.tensor([rows]), torch.tensor([[0, 0, 0, -100]])


@pytest.mark.parametrize("objective,kw,per_token,mean", [
    ("nll", {}, LN, sum(LN) / 3),
    ("neg_p", {}, [0.5, 0.75, 0.1], 1.35 / 3),
    ("general_family", {"alpha": 2.0}, [0.375, 0.46875, 0.095], (0.375 + 0.46875 + 0.095) / 3),
    ("general_family", {"alpha": 1.0}, [0.5, 0.75, 0.1], 1.35 / 3),
    ("general_family", {"alpha": 0.0}, LN, sum(LN) / 3),
    # thresholded at q = 0.5: the mean runs over the kept tokens only (the released trainer's loss mask)
    ("only_top_p", {"threshold": 0.5}, [0.5, 0.75, 0.1], (0.5 + 0.1) / 2),
    ("only_bottom_p", {"threshold": 0.5}, [0.5, 0.75, 0.1], (0.5 + 0.75) / 2),
    ("only_top_logp", {"threshold": 0.5}, LN, (LN[0] + LN[2]) / 2),
    ("only_bottom_logp", {"threshold": 0.5}, LN, (LN[0] + LN[1]) / 2),
])
def test_objectives_match_hand_computed_values(objective, kw, per_token, mean):
    loss, _ = token_objective(P.log(), objective, **kw)
    assert torch.allclose(loss, torch.tensor(per_token), atol=1e-5)
    logits, labels = _logits_labels()
    assert masked_objective(logits, labels, objective, **kw).item() == pytest.approx(mean, abs=1e-5)
    # decoder-only layout: position t predicts token t+1
    shifted = torch.cat([logits, torch.zeros(1, 1, 2)], dim=1)
    shifted_labels = torch.cat([torch.tensor([[-100]]), labels], dim=1)
    shifted_loss = masked_objective(shifted, shifted_labels, objective, shift=True, **kw)
    assert shifted_loss.item() == pytest.approx(mean, abs=1e-5)


def test_general_family_tends_to_nll_and_gradients_lean_on_likely_tokens():
    logp = P.log()
    near0, _ = token_objective(logp, "general_family", alpha=1e-4)
    assert torch.allclose(near0, -logp, atol=1e-3)
    # logit-gradient weight: NLL pushes hardest on the least likely token, -p^10 on the most likely one
    for objective, alpha, argmax in (("nll", 1.0, 1), ("general_family", 10.0, 2)):
        z = logp.clone().requires_grad_(True)
        token_objective(z, objective, alpha=alpha)[0].sum().backward()
        weight = -z.grad * (1 - P)  # d f / d logit of the target = f'(logp) * (1 - p)
        assert int(weight.argmax()) == argmax


def test_no_kept_token_gives_zero_and_bad_settings_fail():
    logits, labels = _logits_labels()
    assert masked_objective(logits, labels, "only_top_p", threshold=0.95).item() == 0.0
    with pytest.raises(ValueError, match="unknown SFT objective"):
        token_objective(P.log(), "mse")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="objective_threshold"):
        token_objective(P.log(), "only_top_p", threshold=1.5)
    assert set(OBJECTIVES) >= {"nll", "neg_p", "general_family"}


def test_check_objective_rejects_unknown_names_and_out_of_range_knobs():
    from lit_agents.losses.sft_objectives import check_objective

    for name in OBJECTIVES:
        check_objective(name, alpha=1.0, threshold=0.5)
    with pytest.raises(ValueError, match="unknown SFT objective"):
        check_objective("nll2", alpha=1.0, threshold=0.5)
    with pytest.raises(ValueError, match="objective_alpha"):
        check_objective("general_family", alpha=-0.1, threshold=0.5)
    with pytest.raises(ValueError, match="objective_threshold"):
        check_objective("only_bottom_logp", alpha=1.0, threshold=1.5)
