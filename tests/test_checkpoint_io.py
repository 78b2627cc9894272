import io
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


def test_resumable_rng_restores_every_global_rng_before_the_first_resumed_batch():
    import random

    import numpy as np

    from lit_agents.checkpoint_io import ResumableRNG

    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    saved = ResumableRNG().state_dict()
    buf = io.BytesIO()
    torch.save({"callbacks": {"ResumableRNG": saved}}, buf)  # must load with weights_only=True
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)["callbacks"]["ResumableRNG"]
    expected = (torch.rand(3), np.random.rand(3), random.random())

    cb = ResumableRNG()
    cb.load_state_dict(loaded)
    torch.rand(5), np.random.rand(5), random.random()  # a resumed run draws before its first batch
    cb.on_train_batch_start(None, None, None, 0)
    torch.testing.assert_close(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1]) and random.random() == expected[2]
    cb.on_train_batch_start(None, None, None, 1)  # restored once only
    assert not torch.equal(torch.rand(3), expected[0])
