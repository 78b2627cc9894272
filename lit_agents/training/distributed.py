"""Collectives over the ranks of a run that are identities on one process: a Python number, a CPU tensor."""
from __future__ import annotations

from typing import Literal

import torch
import torch.distributed as dist


def _several_ranks() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_number(value: float, op: Literal["max", "sum"], device: torch.device | str) -> float:
    """The ``max`` or ``sum`` of a Python number over ranks (the collective runs on ``device``)."""
    if not _several_ranks():
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return float(t.item())


def all_reduce_sum(t: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """A tensor summed over ranks (the collective runs on ``device``), returned on the CPU."""
    if not _several_ranks():
        return t
    t = t.to(device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu()


def zero_loss(model: torch.nn.Module, params: list[torch.nn.Parameter], *, root: torch.nn.Module | None,
              device: torch.device | str, pad_id: int, encoder_decoder: bool) -> torch.Tensor:
    """A loss of 0 whose backward reaches every trainable weight, for a rank with no rows of its own (its
    gradient all-reduce must still take part). Under FSDP (``root``: the strategy's wrapped module) the gradient
    collectives run in each unit's backward hooks, which only a forward through the units registers (touching
    the local shards directly would leave this rank out of the reduce-scatter): a one-token forward of ``model``."""
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    if not isinstance(root, FSDP):
        return sum(p.sum() * 0.0 for p in params)
    ids = torch.full((1, 1), pad_id, dtype=torch.long, device=device)
    extra = {"decoder_input_ids": ids} if encoder_decoder else {}
    return model(input_ids=ids, **extra).logits.sum() * 0.0
