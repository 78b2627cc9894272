"""MinPrompt's sentence graph and greedy minimum dominating set (dissertation ch. 4.4.2-4.4.3, Algorithm 1).

The sentence graph has one node per sentence and an edge between two sentences that mention a common entity.
It is never materialised here: HotpotQA's graph has 417,895 nodes and 766,206,565 edges, while its
entity->sentence *incidence* (the mentions) is a few million integers. Coverage counts are computed from the
incidence:

    N[v] = {v} ∪ ⋃_{e ∈ E(v)} S(e)          (closed neighbourhood; S(e) = sentences mentioning e)
    gain(v) = |N[v] ∩ uncovered|

Algorithm 1 keeps the *uncovered* nodes in a max-priority queue keyed by their (updated) degree, pops the
maximum, adds it to the set and removes it and its neighbours from the queue. We run it as a *lazy* greedy:
queue keys are upper bounds on the current gain (gains only fall as nodes get covered), and a popped node is
re-scored exactly and accepted only if it still beats the queue's top in (gain desc, index asc) order. This
selects exactly the node the eager algorithm would (ties to the lowest index) while only re-scoring nodes that
reach the top. Memory: O(sentences + mentions).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Literal
from collections.abc import Hashable, Iterable, Sequence

import numpy as np


@dataclass
class Incidence:
    """CSR sentence->entity and entity->sentence incidence (entities mentioned by >= 2 sentences only)."""

    n_sentences: int
    sent_ptr: np.ndarray  # int64[n_sentences + 1]
    sent_ents: np.ndarray  # int32[mentions], entity ids per sentence (distinct within a sentence)
    ent_ptr: np.ndarray  # int64[n_entities + 1]
    ent_sents: np.ndarray  # int32[mentions], sentence ids per entity (ascending)

    @property
    def n_entities(self) -> int:
        return len(self.ent_ptr) - 1

    def entities_of(self, v: int) -> np.ndarray:
        return self.sent_ents[self.sent_ptr[v]:self.sent_ptr[v + 1]]

    def sentences_of(self, e: int) -> np.ndarray:
        return self.ent_sents[self.ent_ptr[e]:self.ent_ptr[e + 1]]

    def n_pairs_with_multiplicity(self) -> int:
        """Σ_e C(|S(e)|, 2): an upper bound on the edge count (equal when no two sentences share 2 entities)."""
        sizes = np.diff(self.ent_ptr).astype(np.int64)
        return int((sizes * (sizes - 1) // 2).sum())


def build_incidence(sentence_entities: Sequence[Iterable[Hashable]]) -> Incidence:
    """Map entity keys to ids, de-duplicate mentions within a sentence, drop entities of a single sentence
    (they create no edge), and build both CSR directions."""
    key_ids: dict[Hashable, int] = {}
    ptr = np.zeros(len(sentence_entities) + 1, dtype=np.int64)
    flat: list[int] = []
    for i, ents in enumerate(sentence_entities):
        ids = {key_ids.setdefault(k, len(key_ids)) for k in ents}
        flat.extend(ids)
        ptr[i + 1] = len(flat)
    ent = np.asarray(flat, dtype=np.int64)
    sent = np.repeat(np.arange(len(sentence_entities), dtype=np.int64), np.diff(ptr))
    counts = np.bincount(ent, minlength=len(key_ids))
    keep_ent = counts >= 2
    new_id = np.cumsum(keep_ent) - 1
    keep = keep_ent[ent] if len(ent) else np.zeros(0, dtype=bool)
    ent, sent = new_id[ent[keep]], sent[keep]
    n_ent = int(keep_ent.sum())
    sent_ptr = np.zeros(len(sentence_entities) + 1, dtype=np.int64)
    np.cumsum(np.bincount(sent, minlength=len(sentence_entities)), out=sent_ptr[1:])
    order = np.argsort(ent, kind="stable")  # mentions are sentence-ordered, so S(e) comes out ascending
    ent_ptr = np.zeros(n_ent + 1, dtype=np.int64)
    np.cumsum(np.bincount(ent, minlength=n_ent), out=ent_ptr[1:])
    return Incidence(len(sentence_entities), sent_ptr, ent.astype(np.int32), ent_ptr,
                     sent[order].astype(np.int32))


def _gather_rows(ptr: np.ndarray, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Concatenate CSR rows ``rows`` without a Python loop."""
    starts, ends = ptr[rows], ptr[rows + 1]
    lens = ends - starts
    total = int(lens.sum())
    if total == 0:
        return values[:0]
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lens)[:-1])), lens)
    return values[offsets + np.arange(total)]


def greedy_dominating_set(
    sentence_entities: Sequence[Iterable[Hashable]] | Incidence,
    *,
    candidates: Literal["uncovered", "all"] = "uncovered",
) -> list[int]:
    """Greedy approximate minimum dominating set of the co-mention sentence graph (Algorithm 1).

    Args:
        sentence_entities: item i = the entity keys (hashable, possibly empty or repeated) of sentence i, or a
            prebuilt :class:`Incidence`.
        candidates: ``"uncovered"`` = Algorithm 1 as printed (a node leaves the queue once covered, so the
            result is also an independent set); ``"all"`` = the classic greedy set-cover variant where covered
            nodes stay selectable. Both pick the node covering the most uncovered nodes, ties to the lowest
            index, until every node is covered; a sentence sharing no entity dominates itself.

    Returns:
        Selected sentence indices in selection order.
    """
    inc = sentence_entities if isinstance(sentence_entities, Incidence) else build_incidence(sentence_entities)
    n = inc.n_sentences
    if n == 0:
        return []
    uncovered = np.ones(n, dtype=bool)
    n_uncovered = n
    sizes = np.diff(inc.ent_ptr)
    u = sizes.astype(np.int64)  # uncovered sentences per entity
    # Initial keys: 1 + Σ_e (|S(e)| - 1) >= |N[v]| (exact when v has <= 1 shared entity).
    sent_of_mention = np.repeat(np.arange(n), np.diff(inc.sent_ptr))
    upper = 1 + np.bincount(sent_of_mention, weights=sizes[inc.sent_ents] - 1, minlength=n).astype(np.int64)
    heap = list(zip((-upper).tolist(), range(n)))
    heapq.heapify(heap)
    pos = np.zeros(n, dtype=np.int64)  # scratch for distinct counting
    keep_covered = candidates == "all"
    selected: list[int] = []

    def covered_by(v: int) -> np.ndarray:
        ents = inc.entities_of(v)
        alive = ents[u[ents] > 0]
        if len(alive) == 0:
            return np.array([v]) if uncovered[v] else np.zeros(0, dtype=np.int64)
        members = _gather_rows(inc.ent_ptr, inc.ent_sents, alive)
        return members[uncovered[members]]  # may hold duplicates

    def distinct(members: np.ndarray) -> int:
        # distinct count without sorting: the last write per value wins, so one position per value matches
        idx = np.arange(len(members))
        pos[members] = idx
        return int(np.count_nonzero(pos[members] == idx))

    def gain(v: int) -> int:
        ents = inc.entities_of(v)
        alive = ents[u[ents] > 0]
        if len(alive) == 0:
            return int(uncovered[v])
        if len(alive) == 1:  # v ∈ S(e), so the union is just S(e)'s uncovered members
            return int(u[alive[0]])
        sizes_alive = sizes[alive]
        j = int(np.argmax(sizes_alive))
        rest = int(sizes_alive.sum()) - int(sizes_alive[j])
        if sizes_alive[j] <= 8 * rest + 4096:  # small lists: one pass over all of them
            return distinct(covered_by(v))
        # One very frequent entity e*: |⋃ U(e)| = u(e*) + |{s in the other lists : e* ∉ E(s)}|, so the long
        # list is never scanned; membership in it is read from the short E(s) rows instead.
        big = alive[j]
        members = _gather_rows(inc.ent_ptr, inc.ent_sents, np.delete(alive, j))
        members = members[uncovered[members]]
        if len(members):
            row_len = inc.sent_ptr[members + 1] - inc.sent_ptr[members]
            hit = _gather_rows(inc.sent_ptr, inc.sent_ents, members) == big
            has_big = np.zeros(len(members), dtype=bool)
            has_big[np.repeat(np.arange(len(members)), row_len)[hit]] = True
            members = members[~has_big]
        return int(u[big]) + (distinct(members) if len(members) else 0)

    while heap and n_uncovered:
        neg_key, v = heapq.heappop(heap)
        if not keep_covered and not uncovered[v]:
            continue  # Algorithm 1: v was removed from H when it got covered
        g = gain(v)
        if g == 0:
            continue  # covers nothing new (only possible for covered nodes)
        if -g != neg_key and heap and (-g, v) > heap[0]:
            heapq.heappush(heap, (-g, v))  # stale upper bound: re-queue with the exact gain
            continue
        selected.append(v)
        newly = np.unique(covered_by(v))
        uncovered[newly] = False
        n_uncovered -= len(newly)
        ents = _gather_rows(inc.sent_ptr, inc.sent_ents, newly)
        if len(ents):
            ids, cnt = np.unique(ents, return_counts=True)
            u[ids] -= cnt
    return selected


def is_dominating_set(sentence_entities: Sequence[Iterable[Hashable]], selected: Iterable[int]) -> bool:
    """Check domination from the incidence (every sentence is selected or shares an entity with one)."""
    inc = build_incidence(sentence_entities)
    covered = np.zeros(inc.n_sentences, dtype=bool)
    sel = np.fromiter(selected, dtype=np.int64)
    covered[sel] = True
    if len(sel):
        ents = np.unique(_gather_rows(inc.sent_ptr, inc.sent_ents, sel))
        if len(ents):
            covered[_gather_rows(inc.ent_ptr, inc.ent_sents, ents)] = True
    return bool(covered.all())


def to_networkx(sentence_entities: Sequence[Iterable[Hashable]], *, max_edges: int = 5_000_000):
    """The sentence graph as a ``networkx.Graph`` (edges materialised: for small corpora and plots only).

    Edge attribute ``entities`` lists the shared entity keys."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(range(len(sentence_entities)))
    by_entity: dict[Hashable, list[int]] = {}
    for i, ents in enumerate(sentence_entities):
        for k in set(ents):
            by_entity.setdefault(k, []).append(i)
    n_pairs = sum(len(s) * (len(s) - 1) // 2 for s in by_entity.values())
    if n_pairs > max_edges:
        raise ValueError(f"the sentence graph has up to {n_pairs} edges (> max_edges={max_edges}); "
                         "use greedy_dominating_set, which works from the incidence")
    for key, sents in by_entity.items():
        for a in range(len(sents)):
            for b in range(a + 1, len(sents)):
                u, v = sents[a], sents[b]
                if graph.has_edge(u, v):
                    graph[u][v]["entities"].append(key)
                else:
                    graph.add_edge(u, v, entities=[key])
    return graph


def naive_greedy_dominating_set(graph, *, candidates: Literal["uncovered", "all"] = "uncovered") -> list[int]:
    """Reference eager greedy on a materialised networkx graph (O(V^2)); for tests and benchmarks."""
    uncovered = set(graph.nodes)
    pool = set(graph.nodes)
    selected = []
    while uncovered:
        best, best_gain = None, -1
        for v in sorted(pool if candidates == "all" else pool & uncovered):
            g = len(({v} | set(graph[v])) & uncovered)
            if g > best_gain:
                best, best_gain = v, g
        selected.append(best)
        uncovered -= {best} | set(graph[best])
    return selected
