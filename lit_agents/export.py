"""Turn a training checkpoint (sharded FSDP directory or single file) into a Hugging Face model directory.

    python -m lit_agents.export runs/sft/checkpoints/last.ckpt exported/sft

The LightningModule is rebuilt from the hyper-parameters stored in the checkpoint (as ``load_from_checkpoint``
does), its weights are read (a sharded checkpoint is read on one process, model weights only: no optimiser
state), LoRA adapters are merged, and ``model.save_pretrained`` + ``tokenizer.save_pretrained`` write the
directory that ``from_pretrained`` / ``backbone.name_or_path`` load.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import logging
from pathlib import Path
from typing import Any

import torch

from lit_agents.checkpoint_io import safe_torch_load

log = logging.getLogger(__name__)

META = "meta.pt"  # Lightning's metadata file inside a sharded checkpoint directory


def save_hf(model: torch.nn.Module, tokenizer: Any, out: str | Path) -> Path:
    """``save_pretrained`` of a transformers model (LoRA merged into a copy first) and its tokenizer."""
    if hasattr(model, "merge_and_unload"):
        model = copy.deepcopy(model).merge_and_unload()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
    return out


def strip_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries under ``prefix`` (e.g. ``"model."``: a LightningModule's backbone) without it."""
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def full_state_dict(lightning_module) -> dict[str, torch.Tensor] | None:
    """The LightningModule's full state dict, gathered from every rank under FSDP (call it on every rank; the
    result is on CPU and only rank 0 gets it, others get None). Without FSDP: the module's own state dict."""
    from torch.distributed.fsdp import FullStateDictConfig, StateDictType
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    trainer = getattr(lightning_module, "_trainer", None)
    root = getattr(trainer.strategy, "model", None) if trainer is not None else None
    if not isinstance(root, FSDP):
        return lightning_module.state_dict()
    # offloading what is already on CPU (gloo runs) crashes torch's clone of the gathered tensors
    cfg = FullStateDictConfig(offload_to_cpu=lightning_module.device.type != "cpu", rank0_only=True)
    with FSDP.state_dict_type(root, StateDictType.FULL_STATE_DICT, cfg):
        state = root.state_dict()
    return state if trainer.is_global_zero else None


def load_checkpoint_state(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(metadata, model state dict)`` of a sharded checkpoint directory or a single-file checkpoint."""
    path = Path(path)
    if path.is_dir():
        from torch.distributed.checkpoint import FileSystemReader
        from torch.distributed.checkpoint.default_planner import _EmptyStateDictLoadPlanner
        from torch.distributed.checkpoint.state_dict_loader import _load_state_dict

        if not (path / META).is_file():
            raise FileNotFoundError(f"{path}: not a sharded checkpoint (no {META})")
        state: dict[str, Any] = {}
        _load_state_dict(state, storage_reader=FileSystemReader(path),
                         planner=_EmptyStateDictLoadPlanner(keys={"model"}), no_dist=True)
        meta = safe_torch_load(path / META, map_location="cpu", weights_only=True)
        return meta, state["model"]
    ckpt = safe_torch_load(path, map_location="cpu", weights_only=True)
    return ckpt, ckpt.pop("state_dict")


def load_module(path: str | Path):
    """The LightningModule saved in a checkpoint, rebuilt from its hyper-parameters, weights loaded, eval mode."""
    from lightning.pytorch.core.saving import _load_state

    meta, state = load_checkpoint_state(path)
    hparams = meta.get("hyper_parameters") or {}
    class_path = hparams.get("_class_path")
    if not class_path:
        raise ValueError(f"{path}: the checkpoint does not name its LightningModule class (no _class_path; "
                         "checkpoints written by `lit-agents fit` do)")
    module_name, _, cls_name = class_path.rpartition(".")
    cls = getattr(importlib.import_module(module_name), cls_name)
    module = _load_state(cls, {**meta, "state_dict": state}, strict=True)
    return module.eval()


def export(checkpoint: str | Path, out: str | Path) -> Path:
    """Write the checkpoint's backbone (``module.model``) and tokenizer as a Hugging Face model directory."""
    module = load_module(checkpoint)
    if not hasattr(module, "model") or not hasattr(module.model, "save_pretrained"):
        raise ValueError(f"{checkpoint}: {type(module).__name__} has no transformers backbone to export")
    out = save_hf(module.model, getattr(module, "tokenizer", None), out)
    log.info("exported %s to %s", checkpoint, out)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lit_agents.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a sharded checkpoint directory (FSDP) or a .ckpt file")
    parser.add_argument("out", help="the Hugging Face model directory to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(export(args.checkpoint, args.out))


if __name__ == "__main__":
    main()
