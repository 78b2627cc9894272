"""Length grouping inside one training batch: split its rows into forwards of similar length.

A seq2seq batch padded to its longest row spends most of its work on padding when lengths vary (TinyLLM's
student: 16-token answers next to 256-token rationales, 80- to 512-token questions), and attention makes the
waste quadratic. :func:`length_groups` splits the rows of one task into contiguous runs of the length-sorted
order so that the estimated cost of the forwards, each padded to its own longest row, is smallest. The batch
itself is unchanged (same examples, same step): a caller that sums token losses over the groups and divides
by the batch's token count gets the loss of the padded batch (``tests/methods/test_distillation.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

# Estimated cost of a forward + backward in "token" units, fitted on a 2-layer d_model=64 T5 on one CPU thread
# (6 ms per call ~ 300 tokens; attention's quadratic terms ~ 1/128 per token pair). Only the ratios matter.
CALL_OVERHEAD = 300.0
QUADRATIC = 1 / 128


def forward_cost(n_rows: int, input_len: int, target_len: int) -> float:
    """Estimated cost of one encoder-decoder forward of ``n_rows`` rows padded to these lengths."""
    i, t = input_len, target_len
    return CALL_OVERHEAD + n_rows * (i + t + QUADRATIC * (i * i + t * t + i * t))


def length_groups(input_lens: Sequence[int], target_lens: Sequence[int]) -> list[list[int]]:
    """Row indices split into groups (each sorted, groups in order of their first row) minimising the summed
    :func:`forward_cost` of the groups, over contiguous runs of the rows sorted by their own cost."""
    n = len(input_lens)
    if n != len(target_lens):
        raise ValueError(f"{n} input lengths but {len(target_lens)} target lengths")
    if n <= 1:
        return [list(range(n))]
    order = sorted(range(n), key=lambda r: forward_cost(1, input_lens[r], target_lens[r]))
    best = [0.0] + [float("inf")] * n  # best[k]: cheapest split of the first k rows of `order`
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        max_i = max_t = 0
        for start in range(end - 1, -1, -1):  # group = order[start:end]
            max_i, max_t = max(max_i, input_lens[order[start]]), max(max_t, target_lens[order[start]])
            c = best[start] + forward_cost(end - start, max_i, max_t)
            if c < best[end]:
                best[end], cut[end] = c, start
    groups, end = [], n
    while end > 0:
        groups.append(sorted(order[cut[end]:end]))
        end = cut[end]
    return sorted(groups)


def pad_rows(rows: Sequence[Sequence[int]], pad_id: int, left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``[len(rows), longest]`` ids padded with ``pad_id`` and their attention mask (what a tokenizer's
    ``padding=True`` returns; ``left`` for a tokenizer whose ``padding_side`` is left)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for k, r in enumerate(rows):
        cols = slice(width - len(r), width) if left else slice(0, len(r))
        ids[k, cols] = torch.tensor(list(r), dtype=torch.long)
        mask[k, cols] = 1
    return ids, mask
