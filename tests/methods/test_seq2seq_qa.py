"""Seq2SeqQAModule: answer parsing, L = L_ori + λ·L_aug, evaluation with predictions, DDP via the CLI."""

import json

import lightning as L
import pytest
import torch

from data_modules.base import ResumableSampler
from data_modules.fewshot_qa import FewShotQADataModule, _PairedLoader
from lit_agents.methods.seq2seq_qa import Seq2SeqQAModule, parse_answer
from tests.helpers import run_cli, tiny_backbone

QA = {"id": ["q1", "q2"], "question": ["Who won?", "Where?"],
      "context": ["The Denver Broncos won the game.", "It was played in Santa Clara."],
      "answers": [["Denver Broncos"], ["Santa Clara", "Santa Clara, California"]]}
AUG = {"id": ["a1", "a2"], "question": ["What is the masked entity?"] * 2,
       "context": ["The <mask> Broncos won the game.", "It was played in <mask>."],
       "answers": [["Denver"], ["Santa Clara"]]}


def test_parse_answer_follows_the_released_rule():
    assert parse_answer("Question: Who won? Answer: Denver Broncos Context: The Denver...") == "Denver Broncos"
    assert parse_answer("Question: q Answer:  Denver ") == "Denver"
    assert parse_answer("Denver Broncos") == ""  # no "Answer:" -> empty, as released
    assert parse_answer("Answer: a Answer: b") == "a Answer: b"


@pytest.fixture(scope="module")
def module():
    torch.manual_seed(0)
    m = Seq2SeqQAModule(tiny_backbone("t5"), lambda_aug=0.5, max_source_length=128, max_target_length=64,
                        max_new_tokens=8)
    return m.eval()  # no dropout: the loss is deterministic


def test_training_loss_is_ori_plus_lambda_aug(module):
    with torch.no_grad():
        total = module.training_step({"qa": QA, "aug": AUG}, 1)
        # independent reference: the transformers model's own mean token cross-entropy on each batch
        ori = module.model(**module.encode_batch(QA)).loss
        aug = module.model(**module.encode_batch(AUG, augmented=True)).loss
        only_qa = module.training_step({"qa": QA}, 1)
    assert float(total) == pytest.approx(float(ori + 0.5 * aug), rel=1e-5)
    assert float(only_qa) == pytest.approx(float(ori), rel=1e-5)
    assert float(aug) > 0 and float(ori) > 0


def test_prompt_format_and_mtl_ablation(module):
    assert module.sources(QA)[0] == "Question: Who won? Answer: <mask>. Context: The Denver Broncos won the game."
    assert module.targets(QA)[1] == "Question: Where? Answer: Santa Clara"
    enc = module.encode_batch(AUG, augmented=True)
    module.hparams.aug_format = "mtl"
    try:
        mtl = module.encode_batch(AUG, augmented=True)
    finally:
        module.hparams.aug_format = "prompt"
    tok = module.tokenizer
    assert tok.decode(mtl["input_ids"][0], skip_special_tokens=True) == AUG["context"][0]
    assert tok.decode(mtl["labels"][0][mtl["labels"][0] >= 0], skip_special_tokens=True) == "Denver"
    assert tok.decode(enc["labels"][0][enc["labels"][0] >= 0], skip_special_tokens=True).endswith("Answer: Denver")
    with pytest.raises(ValueError, match="placeholder"):
        Seq2SeqQAModule(tiny_backbone("t5"), source_template="Q: {query}")


def test_paired_loader_cycles_the_augmented_loader():
    qa = torch.utils.data.DataLoader(list(range(6)), batch_size=2)
    aug = torch.utils.data.DataLoader(list(range(100, 104)), batch_size=2)
    loader = _PairedLoader(qa, aug)
    first = [(b["qa"].tolist(), b["aug"].tolist()) for b in loader]
    second = [b["aug"].tolist() for b in loader]
    assert len(loader) == 3 and [q for q, _ in first] == [[0, 1], [2, 3], [4, 5]]
    assert [a for _, a in first] == [[100, 101], [102, 103], [100, 101]]
    assert second == [[102, 103], [100, 101], [102, 103]]  # the position carries over epochs


def test_paired_loader_resumes_the_augmented_stream():
    def loaders():
        qa = torch.utils.data.DataLoader(list(range(8)), batch_size=2, sampler=ResumableSampler(list(range(8))))
        aug = torch.utils.data.DataLoader(list(range(100, 106)), batch_size=2,
                                          sampler=ResumableSampler(list(range(100, 106)), seed=1))
        return qa, aug

    full = _PairedLoader(*loaders())
    stream = [b["aug"].tolist() for _ in range(2) for b in full]  # 8 augmented batches over 2 epochs
    assert sorted(sum(stream[:3], [])) == list(range(100, 106))  # each aug epoch is a permutation
    resumed = _PairedLoader(*loaders(), follow_start=5)
    assert [b["aug"].tolist() for b in resumed][:3] == stream[5:8]


def test_paired_loader_led_by_the_augmented_loader_cycles_qa():
    qa = torch.utils.data.DataLoader(list(range(4)), batch_size=2)
    aug = torch.utils.data.DataLoader(list(range(100, 106)), batch_size=2)
    loader = _PairedLoader(qa, aug, aug_leads=True)
    first = [(b["qa"].tolist(), b["aug"].tolist()) for b in loader]
    assert len(loader) == 3 and [a for _, a in first] == [[100, 101], [102, 103], [104, 105]]
    assert [q for q, _ in first] == [[0, 1], [2, 3], [0, 1]]
    assert [b["qa"].tolist() for b in loader] == [[2, 3], [0, 1], [2, 3]]  # QA's position carries over epochs


@pytest.mark.parametrize("covers", ["augmented", "qa"])
def test_an_epoch_covers_the_augmented_set_by_default(tmp_path, covers):
    """Issue 14 item 8: by default one epoch draws every augmented example once (and every QA example)."""
    dm = FewShotQADataModule(num_examples=4, val_file=None, test_file=None, batch_size=2, epoch_covers=covers,
                             cache_dir=str(tmp_path / "cache"))
    dm.setup("fit")
    n_aug = len(dm.aug_records)
    assert n_aug > 4  # the 4 contexts hold more gazetteer entities than there are QA examples
    batches = list(dm.train_dataloader())
    aug_ids = [i for b in batches for i in b["aug"]["id"]]
    qa_ids = [i for b in batches for i in b["qa"]["id"]]
    if covers == "augmented":
        assert len(batches) == -(-n_aug // 2) and sorted(aug_ids) == sorted(r["id"] for r in dm.aug_records)
        assert set(qa_ids) == {r["id"] for r in dm.train_records}
    else:
        assert len(batches) == 2 and sorted(qa_ids) == sorted(r["id"] for r in dm.train_records)
        assert len(aug_ids) == 4 < n_aug
    assert FewShotQADataModule().epoch_covers == "augmented"
    with pytest.raises(ValueError, match="epoch_covers"):
        FewShotQADataModule(epoch_covers="steps")


def test_fit_validate_test_write_predictions(tmp_path):
    torch.manual_seed(0)
    dm = FewShotQADataModule(num_examples=4, val_size=4, augmentation="gotta", batch_size=2, eval_batch_size=4,
                             cache_dir=str(tmp_path / "cache"))
    model = Seq2SeqQAModule(tiny_backbone("t5"), learning_rate=3e-3, max_source_length=128, max_target_length=96,
                            max_new_tokens=8)
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=2, limit_test_batches=1,
                        num_sanity_val_steps=0, default_root_dir=tmp_path, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(model, dm)
    assert dm.aug_records and all(r["question"] == "What is the masked entity?" for r in dm.aug_records)
    assert {"train/loss_ori", "train/loss_aug", "val/f1", "val/em"} <= set(trainer.callback_metrics)
    trainer.test(model, dm)
    out = next(tmp_path.rglob("predictions"))
    rows = [json.loads(x) for x in (out / "val_epoch0.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {"prediction", "answers", "f1", "em"} <= set(rows[0])
    assert len(json.loads((out / "test_predictions.json").read_text())) == 4
    assert float(trainer.callback_metrics["test/f1"]) == pytest.approx(
        100 * sum(json.loads(x)["f1"] for x in (out / "test.jsonl").read_text().splitlines()) / 4)


DDP = ["--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu",
       "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.check_val_every_n_epoch", "1",
       "--data.val_size", "4", "--data.eval_batch_size", "2", "--model.max_new_tokens", "8",
       "--model.max_source_length", "256", "--model.max_target_length", "160"]


@pytest.mark.slow
def test_cli_ddp_two_processes(tmp_path):
    # One DDP run covers the shared module + DataModule (MinPrompt's path: NER on rank 0, cached, read by
    # both ranks); Gotta's augmentation runs through a real Trainer fit/validate/test above.
    method = "minprompt"
    run_cli(["fit", "--config", f"configs/{method}.yaml", *DDP, "--data.cache_dir", str(tmp_path / "cache")],
            tmp_path, timeout=600)
    preds = list(tmp_path.rglob("predictions/val_epoch0.jsonl"))
    assert len(preds) == 1
    rows = [json.loads(x) for x in preds[0].read_text().splitlines()]
    assert len(rows) == 4 and len({r["id"] for r in rows}) == 4  # gathered from both ranks, de-duplicated
    summary = [json.loads(x) for x in (preds[0].parent / "summary.jsonl").read_text().splitlines()]
    assert summary[-1]["stage"] == "val" and summary[-1]["n"] == 4
    assert list((tmp_path / "cache").glob(f"{method}-*.jsonl"))  # augmentation computed once and cached


@pytest.mark.parametrize("covers", ["augmented", "qa"])
def test_resume_mid_epoch_continues_both_streams(tmp_path, covers):
    """A run resumed from a mid-epoch checkpoint sees the same QA and augmented batches as an uninterrupted one,
    whichever stream leads the epoch."""
    class Record(L.Callback):
        def __init__(self, save_at=None):
            self.seen, self.save_at = [], save_at

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.seen.append((batch["qa"]["id"], batch["aug"]["id"]))
            if trainer.global_step == self.save_at:
                trainer.save_checkpoint(tmp_path / "mid.ckpt")

    def run(callback, ckpt=None):
        dm = FewShotQADataModule(num_examples=6, val_file=None, test_file=None, cache_dir=str(tmp_path / "cache"),
                                 epoch_covers=covers)
        trainer = L.Trainer(accelerator="cpu", max_steps=5 if covers == "qa" else 12, callbacks=[callback],
                            logger=False, limit_val_batches=0,
                            enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                            default_root_dir=tmp_path)
        trainer.fit(Seq2SeqQAModule(tiny_backbone("t5"), max_source_length=32, max_target_length=32), dm,
                    ckpt_path=ckpt)

    full, resumed = Record(save_at=2), Record()
    run(full)
    run(resumed, tmp_path / "mid.ckpt")  # resumes inside epoch 0 (qa: 3 batches per epoch; augmented: more)
    assert resumed.seen == full.seen[2:]
