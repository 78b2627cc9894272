import pickle

import pytest
import torch

from lit_agents.checkpoint_io import AtomicCheckpointIO


class _Explodes:
    """Pickling this fails halfway through writing a checkpoint (a stand-in for a kill mid-save)."""

    def __reduce__(self):
        raise KeyboardInterrupt("killed while saving")


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"global_step": 1, "w": torch.ones(1000)}, path)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"global_step": 2, "w": torch.zeros(1000), "x": _Explodes()}, path)
    assert io.load_checkpoint(path)["global_step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temp file left behind
    io.save_checkpoint({"global_step": 3}, path)
    assert io.load_checkpoint(path)["global_step"] == 3


def test_checkpoints_load_without_unpickling_arbitrary_objects(tmp_path):
    path = tmp_path / "c.ckpt"
    AtomicCheckpointIO().save_checkpoint({"obj": pickle.loads(pickle.dumps(object))}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
