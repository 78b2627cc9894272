"""FSDP that finds what to shard from the model itself, so one YAML fragment serves every backbone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.strategies import FSDPStrategy
from torch.nn import Module

from lit_agents.backbone import transformer_block_classes
from lit_agents.checkpoint_io import safe_torch_load


class BackboneFSDPStrategy(FSDPStrategy):
    """``FSDPStrategy`` whose wrap (and activation-checkpointing) policy is the backbone's transformer block
    classes, read from the model's ``_no_split_modules`` at set-up (LlamaDecoderLayer, T5Block, ...).

    Non-LM modules (the basketball nets) fall back to wrapping the whole module as one unit.
    """

    def __init__(self, activation_checkpointing_blocks: bool = True, state_dict_type: str = "sharded",
                 sharding_strategy: str = "FULL_SHARD", **kwargs: Any):
        super().__init__(state_dict_type=state_dict_type, sharding_strategy=sharding_strategy, **kwargs)
        self.activation_checkpointing_blocks = activation_checkpointing_blocks

    def _setup_model(self, model: Module) -> Module:
        from torch.distributed.fsdp.wrap import ModuleWrapPolicy

        blocks = transformer_block_classes(model)
        if blocks and "auto_wrap_policy" not in self.kwargs:
            self.kwargs["auto_wrap_policy"] = ModuleWrapPolicy(blocks)
            if self.activation_checkpointing_blocks and not self._activation_checkpointing_kwargs:
                self._activation_checkpointing_kwargs = {"auto_wrap_policy": ModuleWrapPolicy(blocks)}
        return super()._setup_model(model)

    def load_checkpoint(self, checkpoint_path, weights_only: bool | None = None) -> dict[str, Any]:
        """Lightning's FSDP reads a full (single-file) checkpoint with an unrestricted unpickler: check the file
        with ``torch.load(weights_only=True)`` first (memory-mapped, so nothing is copied), and load the metadata
        of sharded checkpoints with ``weights_only=True``."""
        if Path(checkpoint_path).is_file():
            safe_torch_load(checkpoint_path, map_location="cpu", weights_only=weights_only, mmap=True)
        elif weights_only is False:
            raise ValueError(f"refusing to load checkpoint {checkpoint_path} with weights_only=False")
        return super().load_checkpoint(checkpoint_path, weights_only=True)
