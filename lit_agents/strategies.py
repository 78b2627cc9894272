"""FSDP that finds what to shard from the model itself, so one YAML fragment serves every backbone.

The same strategy runs on GPUs (NCCL) and, for tests and debugging, on CPU processes (gloo): see
``configs/trainer/fsdp.yaml`` and ``configs/trainer/fsdp_cpu.yaml``.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.strategies import FSDPStrategy
from torch.nn import Module

from lit_agents.backbone import transformer_block_classes
from lit_agents.checkpoint_io import safe_torch_load


def keep_fp32_master_weights(module: Module) -> int:
    """Cast half-precision floating parameters to float32 in place; returns how many were cast.

    Mixed precision (``bf16-mixed``) computes in bf16 but must *update* float32 weights: a bf16 weight has an
    8-bit significand, so an AdamW step of relative size ``lr / |w|`` below ~2^-9 rounds back to the same bf16
    value (at the paper learning rates 2e-6..5e-6 nearly every update is lost). FSDP keeps its sharded flat
    parameters in the dtype the module has when it is wrapped, and casts them to ``MixedPrecision.param_dtype``
    only for forward/backward, so casting the module to float32 before wrapping gives fp32 master weights
    (and fp32 optimiser state) with bf16 compute.
    """
    n = 0
    for p in module.parameters():
        if p.is_floating_point() and p.dtype in (torch.bfloat16, torch.float16):
            p.data = p.data.float()
            n += 1
    return n


def _disable_kv_cache(model: Module) -> None:
    """Activation checkpointing re-runs each block's forward in backward; with ``use_cache`` on, a transformers
    block appends its keys/values to the step's ``DynamicCache`` a second time during that recompute, so the
    recomputed attention sees twice the key length (the 768-vs-384 mask error). transformers' own gradient
    checkpointing turns the cache off in training for the same reason; generation keeps its cache (it reads
    ``generation_config.use_cache``)."""
    for m in model.modules():
        config = getattr(m, "config", None)
        if config is not None and hasattr(config, "use_cache") and hasattr(m, "_no_split_modules"):
            config.use_cache = False


class BackboneFSDPStrategy(FSDPStrategy):
    """``FSDPStrategy`` whose wrap (and activation-checkpointing) policy is the backbone's transformer block
    classes, read from the model's ``_no_split_modules`` at set-up (LlamaDecoderLayer, T5Block, ...).

    Non-LM modules (the basketball nets) fall back to wrapping the whole module as one unit. Also:

    - runs on CPU processes with gloo (``device_id=cpu``; Lightning passes none for a CPU device);
    - under mixed precision the sharded parameters are float32 (master weights), compute in bf16/fp16;
    - validation/test/predict steps run outside the root's forward with the full parameters gathered once
      (read-only), so generation inside them (``model.generate`` bypasses the root's forward) sees whole
      weights; torch forbids gathering them inside the root's forward.
    """

    def __init__(self, activation_checkpointing_blocks: bool = True, state_dict_type: str = "sharded",
                 sharding_strategy: str = "FULL_SHARD", **kwargs: Any):
        super().__init__(state_dict_type=state_dict_type, sharding_strategy=sharding_strategy, **kwargs)
        self.activation_checkpointing_blocks = activation_checkpointing_blocks

    @property
    def fsdp_device_id(self) -> torch.device | int | None:
        """What FSDP's ``device_id`` gets: the CUDA index, or the CPU device (FSDP then shards on CPU)."""
        return self.root_device if self.root_device.type == "cpu" else self.root_device.index

    def _setup_model(self, model: Module) -> Module:
        from lightning.fabric.strategies.fsdp import _move_torchmetrics_to_device, _setup_activation_checkpointing
        from torch.distributed.fsdp import FullyShardedDataParallel
        from torch.distributed.fsdp.wrap import ModuleWrapPolicy

        if any(isinstance(m, FullyShardedDataParallel) for m in model.modules()):
            return super()._setup_model(model)
        blocks = transformer_block_classes(model)
        if blocks and "auto_wrap_policy" not in self.kwargs:
            self.kwargs["auto_wrap_policy"] = ModuleWrapPolicy(blocks)
            if self.activation_checkpointing_blocks and not self._activation_checkpointing_kwargs:
                self._activation_checkpointing_kwargs = {"auto_wrap_policy": ModuleWrapPolicy(blocks)}
        if self._activation_checkpointing_kwargs:
            _disable_kv_cache(model)
        mp = self.mixed_precision_config
        if mp is not None and mp.param_dtype in (torch.bfloat16, torch.float16):
            keep_fp32_master_weights(model)
        model = FullyShardedDataParallel(module=model, cpu_offload=self.cpu_offload, mixed_precision=mp,
                                         sharding_strategy=self.sharding_strategy, device_id=self.fsdp_device_id,
                                         **self.kwargs)
        _move_torchmetrics_to_device(model, self.root_device)
        _setup_activation_checkpointing(model, self._activation_checkpointing_kwargs)
        return model

    @contextmanager
    def _full_params(self):
        from torch.distributed.fsdp import FullyShardedDataParallel

        with torch.no_grad(), FullyShardedDataParallel.summon_full_params(self.model, writeback=False,
                                                                          recurse=True):
            yield

    def validation_step(self, *args: Any, **kwargs: Any) -> Any:
        with self.precision_plugin.val_step_context(), self._full_params():
            return self.lightning_module.validation_step(*args, **kwargs)

    def test_step(self, *args: Any, **kwargs: Any) -> Any:
        with self.precision_plugin.test_step_context(), self._full_params():
            return self.lightning_module.test_step(*args, **kwargs)

    def predict_step(self, *args: Any, **kwargs: Any) -> Any:
        with self.precision_plugin.predict_step_context(), self._full_params():
            return self.lightning_module.predict_step(*args, **kwargs)

    def load_checkpoint(self, checkpoint_path, weights_only: bool | None = None) -> dict[str, Any]:
        """Lightning's FSDP reads a full (single-file) checkpoint with an unrestricted unpickler: check the file
        with ``torch.load(weights_only=True)`` first (memory-mapped, so nothing is copied), and load the metadata
        of sharded checkpoints with ``weights_only=True``."""
        if Path(checkpoint_path).is_file():
            safe_torch_load(checkpoint_path, map_location="cpu", weights_only=weights_only, mmap=True)
        elif weights_only is False:
            raise ValueError(f"refusing to load checkpoint {checkpoint_path} with weights_only=False")
        return super().load_checkpoint(checkpoint_path, weights_only=True)
