import pickle

import pytest
import torch

from lit_agents.checkpoint_io import AtomicCheckpointIO


class _Explodes:
    """Pickling this fails halfway through writing a checkpoint (a stand-in for a kill mid-save)."""

    def __reduce__(self):
        raise KeyboardInterrupt("killed while saving")


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, reliability_log):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"global_step": 1, "w": torch.ones(1000)}, path)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"global_step": 2, "w": torch.zeros(1000), "x": _Explodes()}, path)
    assert io.load_checkpoint(path)["global_step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temp file left behind
    io.save_checkpoint({"global_step": 3}, path)
    assert io.load_checkpoint(path)["global_step"] == 3
    reliability_log("checkpoint", "save interrupted by an exception halfway through pickling",
                    "previous last.ckpt intact and loadable, no temp file left")


_SAVER = """
import sys, torch
from lit_agents.checkpoint_io import atomic_torch_save
w = torch.randn(4_000_000)  # 16 MB: a save takes long enough for kills to land inside it
step = 0
while True:
    step += 1
    atomic_torch_save({"global_step": step, "w": w}, sys.argv[1])
    print(step, flush=True)
"""


@pytest.mark.slow
def test_sigkill_during_saves_never_leaves_an_unloadable_checkpoint(tmp_path, reliability_log):
    import os
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "last.ckpt"
    kills = 0
    for delay in (0.05, 0.17, 0.4):
        proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(path)], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
        proc.stdout.readline()  # one complete save, then kill at some point of the next ones
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        ckpt = torch.load(path, weights_only=True)
        assert ckpt["global_step"] >= 1 and ckpt["w"].numel() == 4_000_000
    reliability_log("checkpoint", "SIGKILL at random moments while a process saves 16 MB checkpoints in a loop",
                    "last.ckpt loadable after every kill (the save goes to a temp file, fsync, os.replace)",
                    tried=kills)


def test_checkpoints_load_without_unpickling_arbitrary_objects(tmp_path):
    path = tmp_path / "c.ckpt"
    AtomicCheckpointIO().save_checkpoint({"obj": pickle.loads(pickle.dumps(object))}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def test_resumable_rng_draws_are_a_function_of_the_loop_position():
    import random
    from types import SimpleNamespace

    import numpy as np

    from lit_agents.checkpoint_io import ResumableRNG

    def draws():
        return torch.rand(3), np.random.rand(3), random.random()

    trainer = SimpleNamespace(global_rank=0, current_epoch=2, global_step=7)
    cb = ResumableRNG(seed=5)
    cb.on_train_batch_start(trainer, None, None, 4)
    expected = draws()

    torch.rand(10), np.random.rand(10), random.random()  # whatever happened before (a new iterator, validation)
    ResumableRNG(seed=5).on_train_batch_start(trainer, None, None, 4)  # a resumed run at the same position
    got = draws()
    torch.testing.assert_close(got[0], expected[0])
    assert np.array_equal(got[1], expected[1]) and got[2] == expected[2]

    cb.on_train_batch_start(trainer, None, None, 5)  # the next batch, another rank, another seed: other draws
    assert not torch.equal(torch.rand(3), expected[0])
    ResumableRNG(seed=5).on_train_batch_start(SimpleNamespace(global_rank=1, current_epoch=2), None, None, 4)
    assert not torch.equal(torch.rand(3), expected[0])
    ResumableRNG(seed=6).on_train_batch_start(trainer, None, None, 4)
    assert not torch.equal(torch.rand(3), expected[0])


def test_validation_neither_sees_nor_moves_the_training_stream():
    from types import SimpleNamespace

    from lit_agents.checkpoint_io import ResumableRNG

    trainer = SimpleNamespace(global_rank=0, current_epoch=0, global_step=3)
    cb = ResumableRNG(seed=1)
    cb.on_train_batch_start(trainer, None, None, 0)
    state = torch.get_rng_state()
    cb.on_validation_start(trainer, None)
    val_a = torch.rand(4)
    cb.on_validation_end(trainer, None)
    assert torch.equal(torch.get_rng_state(), state)
    torch.rand(100)
    cb.on_validation_start(trainer, None)  # validation at the same step draws the same, whatever came before
    assert torch.equal(torch.rand(4), val_a)
    cb.on_validation_end(trainer, None)


def test_temporaries_left_by_a_killed_save_are_removed_by_the_next_save(tmp_path, reliability_log):
    import os
    import time

    path = tmp_path / "last.ckpt"
    stale = tmp_path / ".last.abc123.tmp.ckpt"  # what atomic_path leaves when its process is SIGKILLed
    stale.write_bytes(b"x" * 1000)
    os.utime(stale, (time.time() - 60, time.time() - 60))
    other = tmp_path / ".epoch=1.abc.tmp.ckpt"  # another checkpoint's temporary: not ours to remove
    other.write_bytes(b"y")
    os.utime(other, (time.time() - 60, time.time() - 60))
    AtomicCheckpointIO().save_checkpoint({"global_step": 1}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".epoch=1.abc.tmp.ckpt", "last.ckpt"]
    reliability_log("checkpoint", "temporary file left by a save killed with SIGKILL",
                    "removed by the next save of the same checkpoint (other files untouched)")
