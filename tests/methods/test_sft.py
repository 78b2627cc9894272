import json

import lightning as L
import pytest
import torch

from data_modules.sft import SFTDataModule, load_sft_records
from lit_agents.fileio import DataError
from lit_agents.losses.sft import IGNORE_INDEX, response_nll
from lit_agents.methods.sft import SFTModule
from lit_agents.training.prompt_response import check_loss_mask, pack_batch, tokenize_prompt_response
from tests.helpers import run_cli, tiny_backbone


@pytest.fixture(scope="module")
def llama():
    return tiny_backbone("llama").build()


def test_causal_mask_covers_response_and_eos_only(llama):
    _, tok = llama
    enc = tokenize_prompt_response(tok, ["Q: hi", [{"role": "user", "content": "yo"}]], ["ok", "sure"],
                                   max_length=128, encoder_decoder=False)
    for row in range(2):
        lab = enc["labels"][row]
        trained = lab[lab != IGNORE_INDEX]
        text = tok.decode(trained)
        assert text.startswith(["ok", "sure"][row]) and tok.eos_token in text
        n = int(enc["attention_mask"][row].sum())
        assert (enc["input_ids"][row][:n][lab[:n] != IGNORE_INDEX] == trained).all()
    # the prompt (chat header included) is never trained on
    first = int((enc["labels"][0] != IGNORE_INDEX).nonzero()[0])
    assert "<|assistant|>" in tok.decode(enc["input_ids"][0][:first])


def test_seq2seq_labels_are_the_response():
    _, tok = tiny_backbone("t5").build()
    enc = tokenize_prompt_response(tok, ["source text", "s"], ["target", "a longer target"], max_length=64,
                                   encoder_decoder=True)
    assert tok.decode(enc["labels"][0][enc["labels"][0] != IGNORE_INDEX], skip_special_tokens=True) == "target"
    assert (enc["labels"][0] == IGNORE_INDEX).any()  # padding ignored


def test_masked_nll_matches_transformers_loss(llama):
    model, tok = llama
    enc = tokenize_prompt_response(tok, ["abc", "defgh"], ["xy", "z"], max_length=64, encoder_decoder=False)
    out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=enc["labels"])
    ours = response_nll(model, enc, encoder_decoder=False)
    assert torch.allclose(ours, out.loss, atol=1e-5)
    per_seq = response_nll(model, enc, encoder_decoder=False, reduction="none")
    assert per_seq.shape == (2,)
    n_tokens = (enc["labels"][:, 1:] != IGNORE_INDEX).sum()
    assert torch.allclose(per_seq.sum() / n_tokens, ours, atol=1e-5)



def test_pack_batch_keeps_every_token(llama):
    _, tok = llama
    enc = tokenize_prompt_response(tok, ["a", "bb", "ccc", "dddd"], ["1", "22", "333", "4444"], max_length=64,
                                   encoder_decoder=False)
    packed = pack_batch(enc, max_length=80, pad_token_id=tok.pad_token_id)
    assert packed["attention_mask"].sum() == enc["attention_mask"].sum()
    assert (packed["labels"] != IGNORE_INDEX).sum() == (enc["labels"] != IGNORE_INDEX).sum()
    assert packed["input_ids"].shape[0] < 4 and packed["input_ids"].shape[1] <= 80
    assert (packed["position_ids"][0] == 0).sum() >= 2  # positions restart per example


def test_loud_mask_checks(llama):
    _, tok = llama
    enc = tokenize_prompt_response(tok, ["a" * 50], ["b"], max_length=10, encoder_decoder=False)
    with pytest.raises(ValueError, match="max_length"):
        check_loss_mask(tok, enc, encoder_decoder=False)
    enc = tokenize_prompt_response(tok, ["a"], ["b"], max_length=32, encoder_decoder=False)
    enc["labels"] = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, IGNORE_INDEX)
    with pytest.raises(ValueError, match="covers the prompt"):
        check_loss_mask(tok, enc, encoder_decoder=False)


def test_sft_records_from_chat_and_pairs(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]})
                 + "\n" + json.dumps({"prompt": "p", "response": "r"}) + "\n")
    recs = load_sft_records(str(p))
    assert recs[0] == {"prompt": [{"role": "user", "content": "hi"}], "response": "yo"}
    assert recs[1] == {"prompt": "p", "response": "r"}
    p.write_text(json.dumps({"prompt": "p", "response": "r"}) + "\n" + json.dumps({"prompt": "p"}) + "\n")
    with pytest.raises(DataError, match="line 2.*'response'"):
        load_sft_records(str(p))
    assert len(load_sft_records(str(p), on_error="skip")) == 1


@pytest.mark.parametrize("arch", ["llama", "t5"])
def test_sft_loss_falls(arch):
    L.seed_everything(0)
    dm = SFTDataModule(batch_size=8, max_train_records=16, val_fraction=0.1)
    module = SFTModule(tiny_backbone(arch), learning_rate=3e-3, scheduler="constant", max_length=256,
                       num_val_samples=0)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    before = response_nll(module.model, module.encode(batch), encoder_decoder=module.encoder_decoder).item()
    trainer = L.Trainer(max_steps=20, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, limit_val_batches=0)
    trainer.fit(module, datamodule=dm)
    after = response_nll(module.model, module.encode(batch), encoder_decoder=module.encoder_decoder).item()
    assert after < before * 0.8


@pytest.mark.slow
def test_sft_cli_ddp_two_processes(tmp_path):
    run_cli(["fit", "--config", "configs/sft.yaml", "--trainer.strategy", "ddp", "--trainer.devices", "2",
             "--trainer.accelerator", "cpu", "--trainer.max_steps", "3", "--trainer.limit_val_batches", "1",
             "--data.init_args.max_train_records", "48", "--model.init_args.num_val_samples", "1",
             "--model.init_args.val_max_new_tokens", "4"], tmp_path)
    ckpts = list(tmp_path.rglob("last.ckpt"))
    assert ckpts, "no last.ckpt written"
    assert list(tmp_path.rglob("config.yaml")), "resolved config not saved beside the logs"
    state = torch.load(ckpts[0], map_location="cpu", weights_only=True)
    assert state["global_step"] == 3
