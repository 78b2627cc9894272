"""Shared test helpers: run the CLI in a subprocess, tiny backbones, the repo's paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lit_agents.backbone import BackboneConfig, TinySpec

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TEST_DATA = REPO / "tests" / "data"  # real-data excerpts bundled for the tests (tests/data/SOURCE.md)


def needs_shared(*parts: str, why: str = "its bundled excerpt is tested without it"):
    """Skip marker for a test about the whole published file ``../shared/data/<parts>`` (not bundled)."""
    import pytest

    path = SHARED_DATA.joinpath(*parts)
    return pytest.mark.skipif(not path.exists(), reason=f"about the full published file {path} "
                              f"(../shared/data beside the repo); {why}")


def tiny_backbone(arch: str = "llama", **kw) -> BackboneConfig:
    """A 2-layer model of ``arch`` with the byte tokenizer (no files, no network)."""
    spec = dict(arch=arch, d_model=32, n_layers=2, n_heads=4, d_ff=64, tokenizer="byt5")
    spec.update(kw)
    return BackboneConfig(tiny=TinySpec(**spec))


def run_cli(args: list[str], tmp_path: Path, timeout: int = 300, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``lit-agents <args>`` in a subprocess from the repo root, logs under ``tmp_path``.

    Use it for end-to-end and DDP runs: ``--trainer.strategy ddp --trainer.devices 2 --trainer.accelerator cpu``.
    """
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "WANDB_MODE": "offline",
                "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    cmd = [sys.executable, "-m", "lit_agents.cli", *args]
    if not any(a.startswith("--trainer.default_root_dir") for a in args) and args and args[0] != "--help":
        if not any(a == "--print_config" or a.startswith("--print_config") for a in args):
            cmd += ["--trainer.default_root_dir", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"lit-agents {' '.join(args)} failed ({proc.returncode}):\n"
                             f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-8000:]}")
    return proc


def lit_agents_cmd(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "lit_agents.cli", *args]


def kill_after_checkpoint_and_resume(config: str, args: list[str], root: Path, *, steps_before_kill: int,
                                     timeout: int = 300) -> None:
    """Start ``lit-agents fit``, SIGKILL it once ``checkpoints/step=<n>`` exists, then resume with
    ``--ckpt_path last`` to the end. Checkpoints are written every step so the kill lands between saves."""
    import signal
    import time

    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "WANDB_MODE": "offline",
           "HF_HUB_OFFLINE": "1"}
    base = ["fit", "--config", config, *args, "--trainer.default_root_dir", str(root),
            "--checkpoint.every_n_train_steps", "1", "--checkpoint.save_top_k", "-1",
            "--checkpoint.filename", "{step}"]
    # its own session, so the kill takes the whole process group (DDP ranks, dataloader workers) at once
    proc = subprocess.Popen(lit_agents_cmd(base), cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    marker = root / "checkpoints" / f"step={steps_before_kill}.ckpt"
    deadline = time.time() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"run ended before step {steps_before_kill}:\n{proc.stderr.read()[-4000:]}")
        if time.time() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("timed out waiting for the checkpoint")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = subprocess.run(lit_agents_cmd(base + ["--ckpt_path", "last"]), cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"resume failed:\n{done.stderr[-6000:]}")
