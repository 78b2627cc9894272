"""Resuming from a mid-epoch checkpoint neither repeats nor skips an example (Lightning alone restarts the
epoch's iterator and drops its tail), at an epoch boundary too."""

import glob

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from data_modules.base import RecordsDataModule, ResumableSampler, split_records


class _Numbers(RecordsDataModule):
    def setup(self, stage=None):
        self.train_records = [{"i": i} for i in range(20)]


class _Recorder(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(1, 1)
        self.seen: list[int] = []

    def training_step(self, batch, batch_idx):
        self.seen.extend(batch["i"])
        return self.lin(torch.tensor(batch["i"], dtype=torch.float32)[:, None]).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _fit(tmp, max_steps=-1, ckpt=None, every=100):
    module = _Recorder()
    trainer = L.Trainer(max_epochs=3, max_steps=max_steps, logger=False, enable_progress_bar=False,
                        enable_model_summary=False,
                        callbacks=[ModelCheckpoint(dirpath=tmp, every_n_train_steps=every, save_top_k=-1)])
    trainer.fit(module, datamodule=_Numbers(batch_size=2, seed=3), ckpt_path=ckpt)
    return module.seen, trainer.global_step


@pytest.mark.parametrize("stop_at", [3, 10, 13])  # mid-epoch, epoch boundary, mid second epoch
def test_resume_sees_every_example_exactly_once(tmp_path, stop_at):
    full, steps = _fit(tmp_path / "full")
    part, _ = _fit(tmp_path / "part", max_steps=stop_at + 2, every=stop_at)  # killed after the checkpoint
    ckpt = glob.glob(str(tmp_path / "part" / f"*step={stop_at}.ckpt"))[0]
    rest, resumed_steps = _fit(tmp_path / "resume", ckpt=ckpt)
    assert part[: 2 * stop_at] + rest == full
    assert resumed_steps == steps == 30


def test_sampler_shards_and_reshuffles_per_epoch():
    data = list(range(10))
    a, b = ResumableSampler(data, num_replicas=2, rank=0, seed=1), ResumableSampler(data, num_replicas=2, rank=1,
                                                                                     seed=1)
    assert sorted(list(a) + list(b)) == data
    first = list(a)
    a.set_epoch(1)
    b.set_epoch(1)
    assert list(a) != first and sorted(list(a) + list(b)) == data


def test_split_records_is_seeded_and_disjoint():
    recs = [{"i": i} for i in range(50)]
    rest, held = split_records(recs, 0.2, seed=0)
    assert len(held) == 10 and len(rest) == 40
    assert {r["i"] for r in rest}.isdisjoint({r["i"] for r in held})
    assert split_records(recs, 0.2, seed=0) == (rest, held)
    with pytest.raises(ValueError):
        RecordsDataModule(batch_size=0)
