"""IterAlign data: a stream of red-team prompts served one chunk per epoch, plus TruthfulQA/HHH evaluation.

The red-team prompts of every source are merged into one stream; pass ``p`` over the stream is a permutation
seeded by ``seed + p``, so the stream is infinite and the same on every rank and after a restart. Epoch ``e``
(one IterAlign iteration) serves stream positions ``[e * chunk_size, (e + 1) * chunk_size)``; the chunk is split
across ranks by this module (``chunk[rank::world_size]``), so no prompt is duplicated or dropped by a
distributed sampler. Each epoch yields ``max_steps_per_iteration`` copies of the rank's share (``slot`` 0, 1, ...):
the module red-teams on slot 0 and runs one SFT step per slot until its schedule is done (later slots: no-ops).
Because the chunk depends on ``trainer.current_epoch``, the train
dataloader must be rebuilt every epoch (``trainer.reload_dataloaders_every_n_epochs: 1``, checked here) and
a resumed run continues with the next chunk. Batches carry ``stream_index`` per prompt and the ``chunk_index``
so the module can check that.

``val_prompts`` / ``test_prompts`` are held-out red-team prompts: validation / test generate an answer to each
and the loop's judge scores it (the judge's pass rate on prompts the loop never red-teams). They must be
disjoint from the loop's stream (same prompt or same question: a ``DataError`` naming the file).
"""

from __future__ import annotations

import logging
import random
from collections import Counter

from lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset, IterableDataset

from data_modules.alignment_eval import EvalSet, load_eval_set
from data_modules.io import collate_records
from data_modules.redteam_sources import RedTeamSource, load_source
from lit_agents.fileio import DataError

log = logging.getLogger(__name__)


class _Slots(IterableDataset):
    """``slots`` ready-made batches, each this rank's share of the chunk plus its slot number (an iterable, so
    Lightning adds no DistributedSampler)."""

    def __init__(self, batch: dict, slots: int):
        self.batch, self.slots = batch, slots

    def __iter__(self):
        for k in range(self.slots):
            yield dict(self.batch, slot=k)

    def __len__(self) -> int:
        return self.slots


def _as_is(batch):
    return batch


class _Items(Dataset):
    def __init__(self, items: list[dict]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def chunk_positions(epoch: int, chunk_size: int) -> range:
    """Stream positions served in ``epoch`` (0-based)."""
    return range(epoch * chunk_size, (epoch + 1) * chunk_size)


class RedTeamDataModule(LightningDataModule):
    """Red-team prompts for IterAlign's loop and ranked-choice evaluation sets.

    Args:
        sources: red-team files (see :class:`RedTeamSource`); their prompts are merged into one stream.
        chunk_size: prompts per IterAlign iteration (the released code used 20), split across all ranks.
        shuffle: permute the stream on each pass (seeded by ``seed + pass``); off keeps file order.
        seed: stream and choice-shuffling seed.
        eval_sets: TruthfulQA / HHH files used for validation and test (see :class:`EvalSet`).
        eval_batch_size: evaluation items per batch per rank.
        num_workers: dataloader workers for the evaluation sets.
        max_steps_per_iteration: training batches served per iteration (per rank): an upper bound on the SFT
            steps of one iteration (batches after the SFT schedule is done are no-ops); the module says so if
            it is too small (worst case ``ceil(chunk_size * sft_epochs / (world_size * sft_batch_size))``).
        val_prompts: held-out red-team files answered and judged at validation (task ``heldout_task``; the
            category of each prompt is its source's category, e.g. a ``records`` file's ``category_field``).
        test_prompts: held-out red-team files answered and judged at test.
        heldout_task: the task name the held-out prompts are scored under (``<stage>/<task>/all``).
    """

    def __init__(self, sources: list[RedTeamSource], chunk_size: int = 20, shuffle: bool = True, seed: int = 0,
                 eval_sets: list[EvalSet] | None = None, eval_batch_size: int = 4, num_workers: int = 0,
                 max_steps_per_iteration: int = 64, val_prompts: list[RedTeamSource] | None = None,
                 test_prompts: list[RedTeamSource] | None = None, heldout_task: str = "redteam_heldout"):
        super().__init__()
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        if not sources:
            raise ValueError("sources: give at least one red-team file")
        self.sources = [s if isinstance(s, RedTeamSource) else RedTeamSource(**s) for s in sources]
        self.eval_sets = [e if isinstance(e, EvalSet) else EvalSet(**e) for e in (eval_sets or [])]
        self.heldout_sources = {stage: [s if isinstance(s, RedTeamSource) else RedTeamSource(**s) for s in srcs or []]
                                for stage, srcs in (("val", val_prompts), ("test", test_prompts))}
        self.heldout_task = heldout_task
        self.chunk_size, self.shuffle, self.seed = chunk_size, shuffle, seed
        self.eval_batch_size, self.num_workers = eval_batch_size, num_workers
        if max_steps_per_iteration < 1:
            raise ValueError(f"max_steps_per_iteration must be >= 1, got {max_steps_per_iteration}")
        self.max_steps_per_iteration = max_steps_per_iteration
        self.prompts: list[dict] = []
        self.eval_items: list[list[dict]] = []
        self.heldout: dict[str, list[dict]] = {}

    def setup(self, stage: str | None = None) -> None:
        if not self.prompts:
            for src in self.sources:
                self.prompts.extend(load_source(src))
            log.info("red-team stream: %d prompts (%s)", len(self.prompts),
                     ", ".join(f"{k}={v}" for k, v in Counter(p["source"] for p in self.prompts).items()))
        if not self.eval_items and self.eval_sets:
            self.eval_items = [load_eval_set(es, self.seed) for es in self.eval_sets]
        if not self.heldout:
            self.heldout = {stage: self._load_heldout(srcs) for stage, srcs in self.heldout_sources.items()}

    def _load_heldout(self, sources: list[RedTeamSource]) -> list[dict]:
        """Held-out prompts as evaluation items; refuses any prompt or question the loop's stream also has."""
        loop_prompts = {p["prompt"] for p in self.prompts}
        loop_questions = {p["question"] for p in self.prompts}
        items = []
        for src in sources:
            for rec in load_source(src):
                if rec["prompt"] in loop_prompts or rec["question"] in loop_questions:
                    raise DataError(f"held-out prompt {rec['uid']!r} is also in the red-team stream "
                                    f"({rec['question'][:60]!r}): held-out prompts must be disjoint from the loop's",
                                    path=src.path, field="question")
                items.append({"id": rec["uid"], "task": self.heldout_task, "category": rec["category"],
                              "prompt": rec["prompt"]})
        return items

    # ---- the red-team stream ----
    def stream_record(self, position: int) -> dict:
        """The prompt at ``position`` of the infinite, per-pass shuffled stream."""
        n = len(self.prompts)
        pas, offset = divmod(position, n)
        order = list(range(n))
        if self.shuffle:
            random.Random(self.seed + pas).shuffle(order)
        return dict(self.prompts[order[offset]], stream_index=position)

    def chunk(self, epoch: int) -> list[dict]:
        """The whole chunk of ``epoch`` (all ranks)."""
        if not self.prompts:
            self.setup("fit")
        return [dict(self.stream_record(p), chunk_index=epoch) for p in chunk_positions(epoch, self.chunk_size)]

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        epoch, rank, world = 0, 0, 1
        if trainer is not None:
            if trainer.reload_dataloaders_every_n_epochs != 1:
                raise ValueError("RedTeamDataModule serves a new chunk each epoch: set "
                                 "`trainer.reload_dataloaders_every_n_epochs: 1` (it is "
                                 f"{trainer.reload_dataloaders_every_n_epochs})")
            epoch, rank, world = trainer.current_epoch, trainer.global_rank, trainer.world_size
        if self.chunk_size < world:
            raise ValueError(f"chunk_size={self.chunk_size} is smaller than the {world} ranks; every rank needs "
                             "at least one prompt per iteration")
        shard = [{k: v for k, v in r.items() if k != "chunk_index"} for r in self.chunk(epoch)[rank::world]]
        batch = dict(collate_records(shard), chunk_index=epoch, slots=self.max_steps_per_iteration)
        return DataLoader(_Slots(batch, self.max_steps_per_iteration), batch_size=None, collate_fn=_as_is)

    # ---- evaluation ----
    def _eval_loaders(self, stage: str) -> list[DataLoader]:
        if (not self.eval_items and self.eval_sets) or not self.heldout:
            self.setup("validate")
        # ONE loader over all ranked-choice sets (items carry their task and category, which name the metrics):
        # one loader per set made `test` print the same task-named metrics under every "DataLoader i" column;
        # the held-out red-team prompts (answered and judged, not ranked) get their own
        groups = [[it for group in self.eval_items for it in group], self.heldout.get(stage, [])]
        return [DataLoader(_Items(items), batch_size=self.eval_batch_size, collate_fn=collate_records,
                           num_workers=self.num_workers) for items in groups if items]

    def val_dataloader(self) -> list[DataLoader]:
        return self._eval_loaders("val")

    def test_dataloader(self) -> list[DataLoader]:
        return self._eval_loaders("test")
