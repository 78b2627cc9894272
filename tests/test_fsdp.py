"""FSDP needs CUDA (torch refuses a CPU-only FSDP); these run on a GPU machine and are skipped elsewhere."""

import pytest
import torch

from tests.helpers import run_cli


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 1, reason="needs a CUDA device")
def test_sft_fsdp_with_generation_during_validation(tmp_path):
    devices = str(min(2, torch.cuda.device_count()))
    run_cli(["fit", "--config", "configs/sft.yaml", "--config", "configs/trainer/fsdp.yaml",
             "--trainer.devices", devices, "--trainer.max_steps", "3", "--trainer.limit_val_batches", "1",
             "--data.init_args.max_train_records", "32", "--model.init_args.num_val_samples", "1",
             "--model.init_args.val_max_new_tokens", "4"], tmp_path)
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()
