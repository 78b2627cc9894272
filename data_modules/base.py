"""A LightningDataModule over in-memory text records, batched column-wise for the module to tokenize."""

from __future__ import annotations

import random

import lightning as L
from torch.utils.data import DataLoader

from data_modules.io import collate_records


class RecordsDataModule(L.LightningDataModule):
    """Subclasses fill ``self.train_records`` / ``val_records`` / ``test_records`` / ``predict_records`` in
    ``setup``; this class turns them into DataLoaders of ``dict[str, list]`` batches.

    The training loader shuffles with a seeded sampler (Lightning's DistributedSampler under DDP)."""

    def __init__(self, batch_size: int = 8, eval_batch_size: int | None = None, num_workers: int = 0,
                 seed: int = 0):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"data.batch_size must be >= 1, got {batch_size}")
        if eval_batch_size is not None and eval_batch_size < 1:
            raise ValueError(f"data.eval_batch_size must be >= 1, got {eval_batch_size}")
        if num_workers < 0:
            raise ValueError(f"data.num_workers must be >= 0, got {num_workers}")
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.eval_batch_size = eval_batch_size or batch_size
        self.train_records: list[dict] = []
        self.val_records: list[dict] = []
        self.test_records: list[dict] = []
        self.predict_records: list[dict] = []

    def _loader(self, records: list[dict], *, train: bool) -> DataLoader:
        import torch

        gen = torch.Generator().manual_seed(self.seed)
        return DataLoader(records, batch_size=self.batch_size if train else self.eval_batch_size, shuffle=train,
                          generator=gen if train else None, num_workers=self.num_workers,
                          collate_fn=collate_records, drop_last=False)

    def train_dataloader(self) -> DataLoader:
        if not self.train_records:
            raise ValueError(f"{type(self).__name__}: no training records (check the data paths)")
        return self._loader(self.train_records, train=True)

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
