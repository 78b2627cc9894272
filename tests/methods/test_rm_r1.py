"""Pairwise evaluation metrics and the RM-R1 stage-1 distillation module."""
import lightning as L
import pytest

from data_modules.rm_r1_traces import TraceDistillDataModule
from lit_agents.backbone import BackboneConfig
from lit_agents.evaluation.pairwise import pairwise_metrics
from lit_agents.methods.rm_r1 import RMR1DistillModule
from tests.helpers import tiny_backbone


def _r(pid, order, verdict, cat="Chat"):
    return {"pair_id": pid, "order": order, "label": "A" if order == "chosen_A" else "B", "verdict": verdict,
            "category": cat}


def test_pairwise_metrics_hand_case():
    results = [
        _r(1, "chosen_A", "A"), _r(1, "chosen_B", "B"),           # right in both orders
        _r(2, "chosen_A", "A"), _r(2, "chosen_B", "A"),           # always says A: position bias
        _r(3, "chosen_A", None, "Safety"), _r(3, "chosen_B", "B", "Safety"),  # unparseable (e.g. both tags)
    ]
    m = pairwise_metrics(results)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["accuracy_chosen_A"] == pytest.approx(2 / 3) and m["accuracy_chosen_B"] == pytest.approx(2 / 3)
    assert m["position_bias"] == pytest.approx(0.0)
    assert m["unparseable"] == pytest.approx(1 / 6)
    assert m["agreement"] == pytest.approx(1 / 3)  # only pair 1 picks the same response in both orders
    assert m["both_correct"] == pytest.approx(1 / 3)
    assert m["frac_verdict_A"] == pytest.approx(3 / 5)
    assert m["category/Chat"] == pytest.approx(3 / 4) and m["category/Safety"] == pytest.approx(1 / 2)
    assert pairwise_metrics([]) == {}


def test_distill_module_trains_validates_and_exports(tmp_path):
    L.seed_everything(0)
    module = RMR1DistillModule(tiny_backbone(), learning_rate=1e-3, max_length=1024, eval_max_new_tokens=8,
                               eval_batch_size=4, export_dir=str(tmp_path / "policy"))
    data = TraceDistillDataModule(system_prompt="rm_r1_cor_system_short", max_response_chars=40, batch_size=4)
    trainer = L.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=1,
                        num_sanity_val_steps=0, val_check_interval=2, default_root_dir=str(tmp_path))
    trainer.fit(module, data)
    metrics = trainer.callback_metrics
    assert "train/loss" in metrics and "val/pairwise/accuracy" in metrics
    assert float(metrics["val/pairwise/n"]) == 4  # one eval batch of 4 records
    model, tok = BackboneConfig(name_or_path=str(tmp_path / "policy")).build()
    assert model.config.hidden_size == 32 and tok.chat_template is not None


def test_distill_module_forwards_the_sft_objective():
    """`objective` reaches the shared SFT loss: neg_p on the same batch differs from the NLL."""
    import torch

    batch = {"prompt": ["Judge: A or B?"], "response": ["<answer>[[A]]</answer>"]}
    losses = {}
    for objective in ("nll", "neg_p"):
        torch.manual_seed(0)
        m = RMR1DistillModule(tiny_backbone(), apply_chat_template=False, max_length=64, objective=objective)
        assert m.hparams.objective == objective
        from lit_agents.training.prompt_response import tokenize_prompt_response

        enc = tokenize_prompt_response(m.tokenizer, batch["prompt"], batch["response"], max_length=64,
                                       apply_chat_template=False, encoder_decoder=m.encoder_decoder)
        losses[objective] = float(m.objective_loss(enc))
    assert losses["nll"] > 1 and 0 < losses["neg_p"] < 1  # NLL of a near-uniform model vs 1 - p
