import pytest
import torch

from lit_agents.backbone import (
    BackboneConfig,
    BackboneUnavailableError,
    LoRASpec,
    TinySpec,
    is_encoder_decoder,
    load_backbone,
    transformer_block_classes,
)
from tests.helpers import tiny_backbone


@pytest.mark.parametrize("arch,enc_dec", [("llama", False), ("t5", True), ("bart", True)])
def test_tiny_specs_build_and_run(arch, enc_dec):
    model, tok = tiny_backbone(arch).build()
    assert is_encoder_decoder(model) is enc_dec
    assert tok.pad_token_id is not None
    enc = tok(["hello world"], return_tensors="pt")
    kwargs = {"labels": enc["input_ids"]} if enc_dec else {}
    out = model(**enc, **kwargs)
    assert out.logits.shape[-1] == model.config.vocab_size
    assert torch.isfinite(out.logits).all()


def test_tiny_causal_tokenizer_has_chat_template():
    _, tok = tiny_backbone("llama").build()
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|assistant|>\n") and "hi" in text


def test_bpe_tokenizer_trained_from_corpus(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat\n" * 50 + "a dog ran in the park\n" * 50)
    model, tok = BackboneConfig(tiny=TinySpec(arch="t5", d_model=32, n_heads=4, d_ff=64, tokenizer="bpe",
                                              bpe_vocab_size=300, bpe_corpus=[str(corpus)])).build()
    ids = tok("the cat sat")["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == "the cat sat"
    assert len(ids) < len("the cat sat")  # merges were learned
    assert model.config.vocab_size == len(tok)
    assert ids[-1] == tok.eos_token_id  # seq2seq targets end with </s> (T5 convention), so generation stops
    _, causal_tok = BackboneConfig(tiny=TinySpec(arch="llama", d_model=32, n_heads=4, d_ff=64, tokenizer="bpe",
                                                 bpe_vocab_size=300, bpe_corpus=[str(corpus)])).build()
    assert causal_tok("the cat sat")["input_ids"][-1] != causal_tok.eos_token_id  # prompts stay open


def test_lora_freezes_base_weights():
    cfg = tiny_backbone("llama")
    cfg.lora = LoRASpec(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"])
    model, _ = cfg.build()
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


def test_gradient_checkpointing_and_dtype():
    cfg = tiny_backbone("llama")
    cfg.gradient_checkpointing, cfg.dtype = True, "bfloat16"
    model, _ = cfg.build()
    assert model.is_gradient_checkpointing
    assert next(model.parameters()).dtype == torch.bfloat16


def test_task_mismatch_and_bad_spec_are_refused():
    with pytest.raises(ValueError, match="seq2seq"):
        load_backbone(tiny_backbone("llama"), task="seq2seq")
    with pytest.raises(ValueError, match="exactly one"):
        load_backbone(BackboneConfig())
    with pytest.raises(ValueError, match="n_heads"):
        tiny_backbone("llama", d_model=30, n_heads=4).build()
    with pytest.raises(ValueError, match="dtype"):
        BackboneConfig(tiny=TinySpec(), dtype="float8").build()


def test_hub_name_without_network_fails_fast_with_advice(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BackboneUnavailableError, match="tiny spec"):
        BackboneConfig(name_or_path="nobody/not-a-model-xyz").build()


def test_local_directory_round_trip(tmp_path):
    model, tok = tiny_backbone("t5").build()
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded, tok2 = BackboneConfig(name_or_path=str(tmp_path)).build()
    assert is_encoder_decoder(loaded)
    assert torch.equal(loaded.shared.weight, model.shared.weight)
    assert tok2("abc")["input_ids"] == tok("abc")["input_ids"]


def test_transformer_block_classes_for_fsdp():
    model, _ = tiny_backbone("llama").build()
    assert {c.__name__ for c in transformer_block_classes(model)} == {"LlamaDecoderLayer"}
