"""FSDP that finds what to shard from the model itself, so one YAML fragment serves every backbone.

The same strategy runs on GPUs (NCCL) and, for tests and debugging, on CPU processes (gloo): see
``configs/trainer/fsdp.yaml`` and ``configs/trainer/fsdp_cpu.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterator
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


@contextmanager
def unsharded(module: Module) -> Iterator[Module]:
    """The module to call with whole weights and no FSDP hooks: for an FSDP unit, its inner module with the
    unit's parameters summoned read-only (allowed inside the root's forward, since the unit itself is idle);
    any other module as it is. For ``torch.autograd.grad`` with respect to inputs (PlayBest's value guidance),
    which FSDP's backward hooks do not support."""
    from torch.distributed.fsdp import FullyShardedDataParallel

    if not isinstance(module, FullyShardedDataParallel):
        yield module
        return
    with FullyShardedDataParallel.summon_full_params(module, writeback=False, recurse=True):
        yield module.module


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


def backbone_wrap_policy(model: Module, blocks: set[type]):
    """FSDP units: every transformer block, and every outermost transformers model (the policy, a reference
    model) as a unit of its own for the rest of its weights (embeddings, head, final norm; tied weights stay
    in one unit; a peft model is wrapped whole, so its ``generate`` runs through the unit), and the submodules
    a LightningModule lists in ``fsdp_wrap_modules()`` (PlayBest's nets and their EMA copies). The root (the
    LightningModule) then owns no parameters, which manual optimisation needs:
    IterAlign and GRPO call ``backward`` inside ``training_step``, i.e. inside the root's forward, and FSDP's
    post-backward hook of a unit still in its forward fails (``Expects BACKWARD_PRE or BACKWARD_POST``)."""
    from torch.distributed.fsdp.wrap import CustomPolicy
    from transformers import PreTrainedModel

    outer: set[int] = set()

    def visit(m: Module) -> None:
        for child in m.children():
            if isinstance(child, PreTrainedModel) or type(child).__name__.startswith("PeftModel"):
                outer.add(id(child))
            else:
                visit(child)

    visit(model)
    declared = getattr(model, "fsdp_wrap_modules", None)
    if callable(declared):
        outer.update(id(m) for m in declared())
    return CustomPolicy(lambda m: type(m) in blocks or id(m) in outer)


class BackboneFSDPStrategy(FSDPStrategy):
    """``FSDPStrategy`` whose wrap (and activation-checkpointing) policy is the backbone's transformer block
    classes, read from the model's ``_no_split_modules`` at set-up (LlamaDecoderLayer, T5Block, ...).

    Non-LM modules (the basketball nets) fall back to wrapping the whole module as one unit. Also:

    - runs on CPU processes with gloo (``device_id=cpu``; Lightning passes none for a CPU device);
    - under mixed precision the sharded parameters are float32 (master weights), compute in bf16/fp16;
    - the root (the LightningModule) owns no parameters: every outermost transformers model is a unit, so
      generation runs through that unit's forward (:func:`lit_agents.generation.model_generate`) and manual
      optimisation can call ``backward`` inside ``training_step`` (see :meth:`backward`).
    """

    def __init__(self, activation_checkpointing_blocks: bool = True, state_dict_type: str = "sharded",
                 sharding_strategy: str = "FULL_SHARD", **kwargs: Any):
        super().__init__(state_dict_type=state_dict_type, sharding_strategy=sharding_strategy, **kwargs)
        self.activation_checkpointing_blocks = activation_checkpointing_blocks
        self._user_wrap_policy = "auto_wrap_policy" in self.kwargs
        self._user_checkpointing = bool(self._activation_checkpointing_kwargs)

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
        if (blocks or hasattr(model, "fsdp_wrap_modules")) and not self._user_wrap_policy:
            # built for this model object each set-up (the policy names modules by identity)
            self.kwargs["auto_wrap_policy"] = backbone_wrap_policy(model, blocks)
            if blocks and self.activation_checkpointing_blocks and not self._user_checkpointing:
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
        # Make the LightningModule's wrapper the root now: a unit first called outside the root's forward (GRPO
        # rollouts in on_train_batch_start, IterAlign's evaluation in on_train_start) would otherwise make
        # itself a root on its first forward, and the real root's first forward then fails.
        from torch.distributed.fsdp._runtime_utils import _lazy_init

        _lazy_init(model, model)
        return model

    def training_step(self, *args: Any, **kwargs: Any) -> Any:
        self._in_training_step = True  # the step runs inside the root's forward
        try:
            return super().training_step(*args, **kwargs)
        finally:
            self._in_training_step = False

    def backward(self, closure_loss: torch.Tensor, optimizer: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Manual optimisation (IterAlign, GRPO) calls ``backward`` inside ``training_step``, i.e. before the
        root's forward has returned, so the root never registers FSDP's end-of-backward callback (it does so
        from a hook on its forward's outputs). Without it the reduced gradient shards are never handed to the
        optimiser and the units stay in their backward state (``clip_grad_norm_`` and the next forward fail).
        Queue that callback from the loss itself: it runs at the end of this backward, as after a normal one."""
        from torch.distributed.fsdp import FullyShardedDataParallel

        root = self.model
        if getattr(self, "_in_training_step", False) and isinstance(root, FullyShardedDataParallel) \
                and closure_loss.requires_grad:
            closure_loss.register_hook(self._queue_post_backward_callback)
        return super().backward(closure_loss, optimizer, *args, **kwargs)

    def _queue_post_backward_callback(self, grad: torch.Tensor) -> torch.Tensor:
        import functools

        from torch.autograd import Variable
        from torch.distributed.fsdp._runtime_utils import _post_backward_final_callback

        root = self.model
        if not root.__dict__.get("_post_backward_callback_queued", False):  # set on the root by its forward
            root._post_backward_callback_queued = True
            Variable._execution_engine.queue_callback(functools.partial(_post_backward_final_callback, root, root))
        return grad

    def save_checkpoint(self, checkpoint: dict[str, Any], filepath, storage_options: Any | None = None) -> None:
        """A sharded checkpoint is written to ``<name>.partial`` and renamed into place once every rank's shard
        and the metadata are on disk, so a kill mid-save never leaves a torn ``last.ckpt`` (shards of one step
        with the metadata of another) for ``--ckpt_path last`` to resume from."""
        if self._state_dict_type != "sharded":
            return super().save_checkpoint(checkpoint, filepath, storage_options)
        import shutil

        path = Path(self.broadcast(str(filepath)))
        partial, old = path.with_name(path.name + ".partial"), path.with_name(path.name + ".old")
        if self.global_rank == 0 and partial.exists():
            shutil.rmtree(partial)
        self.barrier("fsdp_save_start")
        super().save_checkpoint(checkpoint, partial, storage_options)
        self.barrier("fsdp_save_written")
        if self.global_rank == 0:
            if path.is_dir():
                path.rename(old)
            elif path.exists():
                path.unlink()
            partial.rename(path)
            if old.exists():
                shutil.rmtree(old)
        self.barrier("fsdp_save_done")
        return None

    def load_checkpoint(self, checkpoint_path, weights_only: bool | None = None) -> dict[str, Any]:
        """Lightning's FSDP reads a full (single-file) checkpoint with an unrestricted unpickler: check the file
        with ``torch.load(weights_only=True)`` first (memory-mapped, so nothing is copied), and load the metadata
        of sharded checkpoints with ``weights_only=True``."""
        if Path(checkpoint_path).is_file():
            safe_torch_load(checkpoint_path, map_location="cpu", weights_only=weights_only, mmap=True)
        elif weights_only is False:
            raise ValueError(f"refusing to load checkpoint {checkpoint_path} with weights_only=False")
        return super().load_checkpoint(checkpoint_path, weights_only=True)
