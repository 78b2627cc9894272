"""MinPrompt's greedy dominating set from the entity incidence vs networkx on a materialised sentence graph.

Prints time, peak traced memory and set size for (a) ours, (b) the same greedy run eagerly on a networkx graph
(the naive reference), (c) ``networkx.dominating_set`` (what the released MinPrompt code called: any dominating
set, not the paper's greedy), on graphs networkx can hold; then ours alone at HotpotQA scale (417,895 sentences,
~766M co-mention pairs), where the edge list would not fit. ``--quick`` shrinks everything.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import networkx as nx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _synthetic_graph import synthetic_sentence_entities  # noqa: E402
from _table import Result, emit  # noqa: E402

from data_modules.sentence_graph import (  # noqa: E402
    build_incidence,
    greedy_dominating_set,
    is_dominating_set,
    naive_greedy_dominating_set,
    to_networkx,
)


def measure(fn, *args, **kw):
    tracemalloc.start()
    t0 = time.process_time()
    out = fn(*args, **kw)
    dt = time.process_time() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, dt, peak / 2**20


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    n, pairs = (20_000, 2_000_000) if args.quick else (417_895, 766_206_565)
    se = synthetic_sentence_entities(n, pairs, seed=0)
    t0 = time.process_time()
    inc = build_incidence([s.tolist() for s in se])
    t_inc = time.process_time() - t0
    t0 = time.process_time()  # no tracemalloc here: it slows numpy down several-fold
    sel = greedy_dominating_set(inc)
    t_ds = time.process_time() - t0
    assert is_dominating_set([s.tolist() for s in se], sel)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # measured first, before any networkx graph
    print(f"HotpotQA scale: {n} sentences, {len(inc.sent_ents)} mentions, {inc.n_entities} shared entities, "
          f"{inc.n_pairs_with_multiplicity():,} co-mention pairs (with multiplicity)")
    print(f"  incidence {t_inc:.1f}s CPU; greedy dominating set {t_ds:.1f}s CPU, "
          f"process peak RSS {rss:.0f} MiB (input lists included); "
          f"|S| = {len(sel)} ({len(sel) / n:.1%} of the sentences)")

    print()
    sizes = [(300, 3_000), (1_000, 20_000)] if args.quick else [(1_000, 20_000), (4_000, 200_000),
                                                                   (10_000, 1_000_000)]
    print(f"{'sentences':>9} {'pairs':>10} | {'ours s':>7} {'MiB':>6} {'|S|':>5} | {'nx build s':>10} {'MiB':>6} | "
          f"{'nx greedy s':>11} {'|S|':>5} | {'nx.dominating_set s':>19} {'|S|':>5} | speed-up vs nx greedy")
    results = [Result("bench_dominating_set", f"greedy dominating set CPU-s, {n:,} sentences", t_ds,
                      note="HotpotQA scale" if not args.quick else "quick", higher_is_better=False)]
    for n, pairs in sizes:
        se = [s.tolist() for s in synthetic_sentence_entities(n, pairs, seed=1)]
        ours, t_ours, m_ours = measure(greedy_dominating_set, se)
        graph, t_build, m_build = measure(to_networkx, se, max_edges=10**8)
        naive, t_naive, _ = measure(naive_greedy_dominating_set, graph)
        anyset, t_any, _ = measure(nx.dominating_set, graph)
        assert ours == naive and nx.is_dominating_set(graph, ours) and nx.is_dominating_set(graph, anyset)
        print(f"{n:>9} {graph.number_of_edges():>10} | {t_ours:>7.3f} {m_ours:>6.1f} {len(ours):>5} | "
              f"{t_build:>10.2f} {m_build:>6.0f} | {t_naive:>11.2f} {len(naive):>5} | {t_any:>19.3f} "
              f"{len(anyset):>5} | x{(t_build + t_naive) / t_ours:.0f} (time), x{m_build / m_ours:.0f} (memory)")
    results.append(Result("bench_dominating_set", f"greedy dominating set CPU-s, {n:,} sentences", t_ours,
                          t_build + t_naive, "networkx graph + greedy", higher_is_better=False))
    emit(*results)


if __name__ == "__main__":
    main()
