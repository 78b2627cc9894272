"""Small collectives of the IterAlign loop: every rank's plain records on every rank, rank 0's object to all.

Both are no-ops in a single process. They use ``torch.distributed``'s object collectives (pickled, so only the
loop's own plain records travel through them, never data read from files).
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass

import torch.distributed as dist


def gather_objects(obj, world: int) -> list:
    """Every rank's ``obj`` (a picklable list of plain records), on every rank."""
    if world == 1 or not dist.is_available() or not dist.is_initialized():
        return [obj]
    out = [None] * world
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj, world: int):
    """Rank 0's ``obj`` on every rank."""
    if world == 1 or not dist.is_available() or not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def plain(obj):
    """Dataclasses (nested) as dicts, everything else unchanged: what may go into checkpoints and collectives."""
    return asdict(obj) if is_dataclass(obj) and not isinstance(obj, type) else obj
