"""``configs/trainer/multinode.yaml``, simulated: 2 "nodes" x 1 process on 127.0.0.1, launched with the
README's torchrun command (``--nnodes 2 --node-rank i --master-addr --master-port``; torchrun sets RANK,
WORLD_SIZE, GROUP_RANK, LOCAL_RANK and MASTER_* as it would on a cluster), once under DDP and once under FSDP."""

import os
import socket
import subprocess
import sys

import pytest
import torch

from tests.helpers import REPO

STRATEGIES = {"ddp": "configs/trainer/ddp.yaml", "fsdp": "configs/trainer/fsdp_cpu.yaml"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_node(node_rank: int, port: int, fit_args: list[str]) -> list[str]:
    """One node's launch command (as in the README, with 1 process per node instead of 8 GPUs)."""
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
            "--node-rank", str(node_rank), "--master-addr", "127.0.0.1", "--master-port", str(port),
            "-m", "lit_agents.cli", "fit", *fit_args]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_two_nodes_one_process_each(strategy, tmp_path):
    port = _free_port()
    fit_args = ["--config", "configs/sft.yaml", "--config", STRATEGIES[strategy], "--config",
                "configs/trainer/multinode.yaml", "--trainer.devices", "1", "--trainer.accelerator", "cpu",
                "--trainer.max_steps", "2", "--trainer.limit_val_batches", "0", "--trainer.enable_progress_bar",
                "false", "--data.init_args.max_train_records", "16", "--model.init_args.max_length", "256",
                "--model.init_args.backbone.tiny.d_model", "32", "--trainer.default_root_dir", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
           "WANDB_MODE": "offline"}
    nodes = [subprocess.Popen(torchrun_node(i, port, fit_args), cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for i in range(2)]
    outs = []
    for p in nodes:
        try:
            outs.append(p.communicate(timeout=300)[0])
        except subprocess.TimeoutExpired:
            for q in nodes:
                q.kill()
            raise
    for p, out in zip(nodes, outs):
        assert p.returncode == 0, out[-6000:]
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in outs[0] and "GLOBAL_RANK: 1, MEMBER: 2/2" in outs[1]
    last = tmp_path / "checkpoints" / "last.ckpt"
    meta = torch.load(last / "meta.pt" if last.is_dir() else last, map_location="cpu", weights_only=True)
    assert meta["global_step"] == 2
    if strategy == "fsdp":
        assert sorted(p.name for p in last.glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
