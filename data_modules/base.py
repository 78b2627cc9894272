"""A LightningDataModule over in-memory text records, batched column-wise for the module to tokenize."""

from __future__ import annotations

import random

from collections.abc import Iterator
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, DistributedSampler

from data_modules.io import check_loader_args, collate_records


class ResumableSampler(DistributedSampler):
    """A seeded per-epoch shuffle (``seed + epoch``, like ``DistributedSampler``) that can skip the samples a
    checkpointed run already consumed in the interrupted epoch.

    Lightning restarts a resumed epoch's iterator from the beginning but counts the batches already done, so
    a plain loader repeats the first batches and never reaches the last ones. Being a ``DistributedSampler``,
    Lightning leaves it in place under DDP (each rank keeps its own shard and skips its own consumed part).
    With ``weights``, each epoch draws ``len(dataset)`` indices with replacement in proportion to them (the
    resumable counterpart of ``WeightedRandomSampler``), from the same ``seed + epoch`` stream.
    """

    def __init__(self, dataset, *, num_replicas: int = 1, rank: int = 0, shuffle: bool = True, seed: int = 0,
                 weights: Any = None):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=False)
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        self.resume_epoch: int | None = None
        self.skip_samples = 0

    def _epoch_indices(self) -> list[int]:
        if self.weights is None:
            return list(super().__iter__())
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        drawn = torch.multinomial(self.weights, self.total_size, replacement=True, generator=g).tolist()
        return drawn[self.rank:self.total_size:self.num_replicas]

    def resume(self, epoch: int, samples_done: int) -> None:
        self.resume_epoch, self.skip_samples = epoch, samples_done

    def __iter__(self) -> Iterator[int]:
        indices = self._epoch_indices()
        if self.resume_epoch is not None and self.epoch == self.resume_epoch:
            indices = indices[self.skip_samples:]
        self.resume_epoch = None  # skip once
        return iter(indices)


class ResumableTrainLoader:
    """Mid-epoch resume for a DataModule's training loader, for DataModules not built on ``RecordsDataModule``
    (tensor datasets): ``sampler(dataset)`` gives a seeded :class:`ResumableSampler` that skips what a
    checkpointed run already consumed; ``progress()`` / ``resume_from(state)`` go in the DataModule's
    ``state_dict`` / ``load_state_dict``."""

    def __init__(self, batch_size: int, seed: int = 0):
        self.batch_size, self.seed = batch_size, seed
        self._resume: dict[str, int] | None = None
        self._sampler: ResumableSampler | None = None

    @staticmethod
    def progress(trainer) -> dict[str, int]:
        """Where training stands in the current epoch (empty outside fitting)."""
        if trainer is None or not trainer.training:
            return {}
        loop = trainer.fit_loop
        return {"epoch": loop.epoch_progress.current.processed,
                "batches": loop.epoch_loop.batch_progress.current.processed}

    def resume_from(self, state: dict[str, Any] | None) -> None:
        if state and "epoch" in state and "batches" in state:
            self._resume = {"epoch": int(state["epoch"]), "batches": int(state["batches"])}
            if self._sampler is not None:
                # the loader already exists: FSDP restores after set-up, and configure_optimizers'
                # estimated_stepping_batches has built the train loader by then; skip in its sampler
                self._sampler.resume(self._resume["epoch"], self._resume["batches"] * self.batch_size)

    def sampler(self, dataset, trainer, weights: Any = None) -> ResumableSampler:
        world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        sampler = ResumableSampler(dataset, num_replicas=world, rank=rank, seed=self.seed, weights=weights)
        if self._resume is not None:
            sampler.resume(self._resume["epoch"], self._resume["batches"] * self.batch_size)
            self._resume = None
        self._sampler = sampler
        return sampler


class RecordsDataModule(L.LightningDataModule):
    """Subclasses fill ``self.train_records`` / ``val_records`` / ``test_records`` / ``predict_records`` in
    ``setup``; this class turns them into DataLoaders of ``dict[str, list]`` batches.

    The training loader shuffles with a seeded sampler (Lightning's DistributedSampler under DDP)."""

    def __init__(self, batch_size: int = 8, eval_batch_size: int | None = None, num_workers: int = 0,
                 seed: int = 0):
        super().__init__()
        check_loader_args(batch_size, num_workers)
        if eval_batch_size is not None and eval_batch_size < 1:
            raise ValueError(f"data.eval_batch_size must be >= 1, got {eval_batch_size}")
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.eval_batch_size = eval_batch_size or batch_size
        self.train_records: list[dict] = []
        self.val_records: list[dict] = []
        self.test_records: list[dict] = []
        self.predict_records: list[dict] = []
        self._train_resume = ResumableTrainLoader(batch_size, seed)

    def _loader(self, records: list[dict], *, train: bool) -> DataLoader:
        if not train:
            return DataLoader(records, batch_size=self.eval_batch_size, shuffle=False, num_workers=self.num_workers,
                              collate_fn=collate_records)
        sampler = self._train_resume.sampler(records, self.trainer)
        return DataLoader(records, batch_size=self.batch_size, sampler=sampler, num_workers=self.num_workers,
                          collate_fn=collate_records, drop_last=False)

    def train_dataloader(self) -> DataLoader:
        if not self.train_records:
            raise ValueError(f"{type(self).__name__}: no training records (check the data paths)")
        return self._loader(self.train_records, train=True)

    def state_dict(self) -> dict[str, Any]:
        """Where training stands in the current epoch, so a resumed run neither repeats nor skips examples."""
        return self._train_resume.progress(self.trainer)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._train_resume.resume_from(state)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_records, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_records or self.val_records, train=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.predict_records or self.test_records or self.val_records, train=False)


def split_records(records: list[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """A seeded split: (rest, held_out) with ``round(fraction * n)`` held out (at least 1 when fraction > 0)."""
    if not 0 <= fraction < 1:
        raise ValueError(f"split fraction must be in [0, 1), got {fraction}")
    idx = list(range(len(records)))
    random.Random(seed).shuffle(idx)
    k = max(1, round(fraction * len(records))) if fraction > 0 and len(records) > 1 else 0
    held = set(idx[:k])
    return [r for i, r in enumerate(records) if i not in held], [r for i, r in enumerate(records) if i in held]
