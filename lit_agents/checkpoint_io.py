"""Checkpoints written atomically: a kill during a save never leaves an unloadable ``last.ckpt``.

Lightning's default writes through an fsspec transaction whose temporary file lives in the system temp
directory; when that is another filesystem the final move is a copy, which a kill can cut short. Here the
bytes go to a temporary file beside the target, are fsynced, and replace it with ``os.replace`` (atomic on
POSIX and Windows within one filesystem).
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` atomically (temp file in the same directory + fsync + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose saves are atomic (see :func:`atomic_torch_save`); loading is unchanged
    (``weights_only`` as Lightning decides)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO does not take storage_options")
        atomic_torch_save(checkpoint, path)


class ResumableRNG(Callback):
    """Puts the global RNG states (torch CPU and CUDA, NumPy, Python ``random``) in every checkpoint and restores
    them before the first training batch of a resumed run, so sampling (GRPO rollouts), dropout and diffusion
    noise continue exactly as in an uninterrupted run.

    Restored at the first ``on_train_batch_start`` (callbacks run before the module's hook), not at load time:
    a resumed run creates a new dataloader iterator, which draws a seed from the global RNG, before its first
    batch; the uninterrupted run did not. Exact for a checkpoint taken inside an epoch with no validation before
    the next training batch (iterator seeds drawn at an epoch boundary or by validation are not replayed). Only
    rank 0's states are in the checkpoint, so under DDP the other ranks' draws differ after a resume.
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        np_state = np.random.get_state()
        return {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "numpy": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                          "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
                "python": random.getstate()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = dict(state_dict) if state_dict else None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        state, self._pending = self._pending, None
        if state is None:
            return
        torch.set_rng_state(state["torch"])
        if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])
        if "numpy" in state:
            n = state["numpy"]
            np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                                 n["cached"]))
        if "python" in state:
            py = state["python"]
            random.setstate((py[0], tuple(py[1]), py[2]))
