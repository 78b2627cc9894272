"""The response-only token NLL (``masked_nll``) on hand-computed values."""

import math
from types import SimpleNamespace

import pytest
import torch

from lit_agents.losses.sft import IGNORE_INDEX, masked_nll, response_nll


def test_masked_nll_on_a_1x3_example_with_one_ignored_position():
    # vocabulary of 2, uniform logits at position 0 and 2, a confident wrong guess at position 1 (ignored)
    logits = torch.tensor([[[0.0, 0.0], [5.0, 0.0], [math.log(3.0), 0.0]]])
    labels = torch.tensor([[1, IGNORE_INDEX, 0]])
    nll0, nll2 = math.log(2.0), -math.log(3.0 / 4.0)  # -log 1/2, -log 3/4
    assert masked_nll(logits, labels).item() == pytest.approx((nll0 + nll2) / 2, abs=1e-6)
    assert masked_nll(logits, labels, reduction="sum").item() == pytest.approx(nll0 + nll2, abs=1e-6)
    assert masked_nll(logits, labels, reduction="none").tolist() == pytest.approx([nll0 + nll2], abs=1e-6)


def test_masked_nll_shift_scores_position_t_against_token_t_plus_1():
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0], [9.0, 9.0]]])
    labels = torch.tensor([[IGNORE_INDEX, 1, 0]])  # shifted: logits 0 -> label 1, logits 1 -> label 0
    assert masked_nll(logits, labels, shift=True).item() == pytest.approx(
        (math.log(2.0) - math.log(3.0 / 4.0)) / 2, abs=1e-6)


def test_masked_nll_without_label_tokens_is_zero():
    logits = torch.randn(2, 3, 5)
    labels = torch.full((2, 3), IGNORE_INDEX)
    assert masked_nll(logits, labels).item() == 0.0


class _FixedLogits(torch.nn.Module):
    """A stand-in model that returns the same logits whatever it is fed."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, **inputs):
        return SimpleNamespace(logits=self.logits)


def test_response_nll_is_masked_nll_of_the_model_logits_shifted_for_decoder_only():
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0], [9.0, 9.0]]])
    batch = {"input_ids": torch.tensor([[0, 1, 0]]), "attention_mask": torch.ones(1, 3, dtype=torch.long),
             "labels": torch.tensor([[IGNORE_INDEX, 1, 0]])}
    model = _FixedLogits(logits)
    expected = (math.log(2.0) - math.log(3.0 / 4.0)) / 2
    assert response_nll(model, batch, encoder_decoder=False).item() == pytest.approx(expected, abs=1e-6)
    assert response_nll(model, batch, encoder_decoder=True).item() == pytest.approx(
        masked_nll(logits, batch["labels"]).item(), abs=1e-6)  # encoder-decoder logits are already aligned
