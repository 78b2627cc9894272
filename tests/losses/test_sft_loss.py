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


def test_response_logits_feeds_only_model_inputs_and_labels_to_encoder_decoders():
    from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

    from lit_agents.losses.sft import response_logits

    torch.manual_seed(0)
    batch = {"input_ids": torch.tensor([[3, 4, 5, 6]]), "attention_mask": torch.ones(1, 4, dtype=torch.long),
             "labels": torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 5, 6]]), "weights": torch.ones(1)}
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=16, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=2)).eval()
    out = response_logits(llama, batch, encoder_decoder=False)  # "labels"/"weights" are not passed to forward
    assert torch.equal(out, llama(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits)
    t5 = T5ForConditionalGeneration(T5Config(vocab_size=16, d_model=16, d_ff=32, d_kv=8, num_layers=1,
                                             num_heads=2, decoder_start_token_id=0)).eval()
    enc_batch = dict(batch, labels=torch.tensor([[5, 6]]))
    out = response_logits(t5, enc_batch, encoder_decoder=True)
    assert out.shape == (1, 2, 16)  # decoder logits aligned with the labels (shifted inputs built from them)
    assert torch.equal(out, t5(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                               labels=enc_batch["labels"]).logits)
