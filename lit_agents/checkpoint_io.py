"""Checkpoints written atomically: a kill during a save never leaves an unloadable ``last.ckpt``.

Lightning's default writes through an fsspec transaction whose temporary file lives in the system temp
directory; when that is another filesystem the final move is a copy, which a kill can cut short. Here the
bytes go to a temporary file beside the target, are fsynced, and replace it with ``os.replace`` (atomic on
POSIX and Windows within one filesystem).
"""

from __future__ import annotations

import glob
import logging
import os
import pickle
import random
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.cloud_io import _load as pl_load
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.callbacks import Callback

from lit_agents.fileio import atomic_path

log = logging.getLogger(__name__)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` atomically (temp file in the same directory + fsync + ``os.replace``)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose saves are atomic (see :func:`atomic_torch_save`) and whose loads never
    unpickle arbitrary objects: always ``torch.load(weights_only=True)`` (tensors, containers, plain Python
    values), whatever the caller or ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` says. A checkpoint carrying any other
    object is refused with :class:`pickle.UnpicklingError` naming the file.

    A process killed during a save leaves its temporary file behind (as large as a checkpoint); the next save
    of the same file removes such leftovers, i.e. those older than this object (a save in progress elsewhere is
    newer)."""

    def __init__(self) -> None:
        super().__init__()
        self._created = time.time()

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO does not take storage_options")
        self._remove_stale_temporaries(Path(path))
        atomic_torch_save(checkpoint, path)

    def _remove_stale_temporaries(self, path: Path) -> None:
        for stale in path.parent.glob(f".{glob.escape(path.stem)}.*.tmp{path.suffix}"):  # atomic_path's names
            try:
                if stale.stat().st_mtime < self._created:
                    size = stale.stat().st_size
                    stale.unlink()
                    log.info("removed %s (%.1f MB), left by a run killed while saving", stale, size / 2**20)
            except FileNotFoundError:
                pass

    def load_checkpoint(self, path, map_location: Any | None = lambda storage, loc: storage,
                        weights_only: bool | None = None) -> dict[str, Any]:
        return safe_torch_load(path, map_location=map_location, weights_only=weights_only)


def safe_torch_load(path, map_location: Any | None = "cpu", weights_only: bool | None = None,
                    mmap: bool = False) -> Any:
    """``torch.load(path, weights_only=True)`` with a clear error: the file is refused when it holds anything
    but tensors and plain values. ``weights_only=False`` is refused too (lit-agents never unpickles objects).
    ``mmap=True`` (a local file) maps the tensors instead of reading them, for a check that copies nothing."""
    if weights_only is False:
        raise ValueError(f"refusing to load checkpoint {path} with weights_only=False: lit-agents loads "
                         "checkpoints without unpickling arbitrary objects")
    if not get_filesystem(path).exists(path):
        raise FileNotFoundError(f"Checkpoint file not found: {path}")
    try:
        if mmap:
            return torch.load(path, map_location=map_location, weights_only=True, mmap=True)
        return pl_load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise unsafe_checkpoint_error(path, e) from e


def unsafe_checkpoint_error(path, err: BaseException) -> Exception:
    """The error for a checkpoint that ``torch.load(weights_only=True)`` refused (names the file and the
    offending global)."""
    found = re.search(r"Unsupported global: GLOBAL [\w.]+|Unsupported operand \d+", str(err))
    reason = found.group(0) if found else (str(err).strip().splitlines() or [""])[0]
    return pickle.UnpicklingError(
        f"refusing to load checkpoint {path}: it holds objects other than tensors and plain Python values, which "
        f"could run code when unpickled (loaded with weights_only=True; {reason}). Only load checkpoints written "
        "by lit-agents or from a source you trust.")


class ResumableRNG(Callback):
    """Makes every random draw of training a function of where training stands, so an interrupted run resumed
    from any checkpoint (inside an epoch, at an epoch boundary, after a validation pass) draws exactly what the
    uninterrupted run drew: sampling (GRPO rollouts, IterAlign red-teaming), dropout and diffusion noise.

    The global RNGs (torch CPU and CUDA, NumPy, Python ``random``) are reseeded at ``on_train_epoch_start`` from
    ``(seed, rank, epoch)`` and at every ``on_train_batch_start`` from ``(seed, rank, epoch, batch_idx)``, the
    scheme fairseq uses (``torch_seed(seed, num_updates)``). Nothing has to be saved: the loop position is in
    every checkpoint already. Saving the RNG states instead is not enough, because a resumed run cannot replay
    the draws made between the save and the next batch (a new dataloader iterator draws its base seed from the
    global RNG; validation may sample). Validation runs on its own stream (seeded from ``(seed, rank, step)``)
    and the training stream is put back afterwards, so how often one validates never changes training.
    Callbacks run before the module's hooks, so a module's own ``on_train_epoch_start`` work sees the new seed.
    Each DDP rank gets its own stream, which also resumes exactly.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._saved: tuple | None = None

    def _base_seed(self) -> int:
        return self.seed if self.seed is not None else int(os.environ.get("PL_GLOBAL_SEED", 0))

    def _reseed(self, trainer, *position: int) -> None:
        # SeedSequence mixes the entropy words into well-separated streams (no seed + step collisions)
        words = np.random.SeedSequence([self._base_seed(), trainer.global_rank, *position]).generate_state(2)
        torch.manual_seed(int(words[0]) << 31 | int(words[1]) >> 1)  # also seeds every CUDA device
        np.random.seed(int(words[0]))
        random.seed(int(words[1]))

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._reseed(trainer, 0, trainer.current_epoch)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self._reseed(trainer, 1, trainer.current_epoch, batch_idx)

    def on_validation_start(self, trainer, pl_module) -> None:
        self._saved = _global_rng_states()
        self._reseed(trainer, 2, trainer.global_step)

    def on_validation_end(self, trainer, pl_module) -> None:
        if self._saved is not None:
            _set_global_rng_states(self._saved)
            self._saved = None


def _global_rng_states() -> tuple:
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return torch.get_rng_state(), cuda, np.random.get_state(), random.getstate()


def _set_global_rng_states(states: tuple) -> None:
    cpu, cuda, np_state, py_state = states
    torch.set_rng_state(cpu)
    if cuda:
        torch.cuda.set_rng_state_all(cuda)
    np.random.set_state(np_state)
    random.setstate(py_state)
