"""EntityMatcher on a synthetic 1M-entry gazetteer: build time and memory, cache load, and matching throughput
(MB/s of text) against a bare pyahocorasick loop over the same keys (no word-boundary or overlap handling).
``--entries`` / ``--text-mb`` change the sizes; ``--quick`` runs 20K entries on 0.2 MB of text."""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import ahocorasick

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import Result, emit  # noqa: E402

from data_modules.cloze import EntityMatcher  # noqa: E402

SYLLABLES = ["ka", "lo", "mi", "ner", "sa", "to", "vin", "ra", "del", "mon", "ex", "qua", "bri", "zu", "pel", "or"]
FILLER = "the of and in to a was for on with as by at from that is were his their which also".split()


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def make_gazetteer(path: Path, n: int, rng: random.Random) -> list[str]:
    names = set()
    while len(names) < n:
        names.add(" ".join(word(rng) for _ in range(rng.choice([1, 1, 2, 2, 3]))))
    names = sorted(names)
    types = ["PERSON", "GPE", "ORG", "EVENT", "WORK_OF_ART"]
    with open(path, "w", encoding="utf-8") as f:
        for i, name in enumerate(names):
            f.write(f"{name}\t{types[i % len(types)]}\n")
    return names


def make_text(names: list[str], mb: float, rng: random.Random) -> str:
    parts, size = [], 0
    while size < mb * 2**20:
        piece = rng.choice(names) if rng.random() < 0.15 else (word(rng) if rng.random() < 0.2 else rng.choice(FILLER))
        parts.append(piece)
        size += len(piece) + 1
        if rng.random() < 0.05:
            parts[-1] += "."
    return " ".join(parts)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--text-mb", type=float, default=5.0)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.entries, args.text_mb = 20_000, 0.2
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        gaz = Path(tmp) / "gazetteer.tsv"
        names = make_gazetteer(gaz, args.entries, rng)
        text = make_text(names, args.text_mb, rng)
        mb = len(text.encode()) / 2**20
        print(f"gazetteer: {args.entries:,} entries, {gaz.stat().st_size / 2**20:.1f} MiB; text {mb:.1f} MiB")

        # CPU seconds (process_time): wall time on a shared machine measures the neighbours, not the code
        base = rss_mib()
        t0 = time.process_time()
        matcher = EntityMatcher(gaz)
        t_build = time.process_time() - t0
        mem = rss_mib() - base
        t0 = time.process_time()
        EntityMatcher(gaz, cache_dir=Path(tmp) / "cache")
        t_save = time.process_time() - t0
        t0 = time.process_time()
        cached = EntityMatcher(gaz, cache_dir=Path(tmp) / "cache")
        t_load = time.process_time() - t0
        assert cached.loaded_from_cache
        size = sum(p.stat().st_size for p in (Path(tmp) / "cache").iterdir()) / 2**20
        del cached
        print(f"EntityMatcher build {t_build:.1f} CPU s, +{mem:.0f} MiB RSS; build + cache write {t_save:.1f} s "
              f"({size:.0f} MiB on disk); cache load (hash-checked) {t_load:.1f} s "
              f"= {t_load / t_build:.2f}x the build")

        bare = ahocorasick.Automaton(ahocorasick.STORE_LENGTH)
        for name in names:
            bare.add_word(name)
        bare.make_automaton()
        t0 = time.process_time()
        n_raw = sum(1 for _ in bare.iter(text))
        t_bare = time.process_time() - t0
        t0 = time.process_time()
        n_long = sum(1 for _ in bare.iter_long(text))
        t_long = time.process_time() - t0
        t0 = time.process_time()
        n_ours = sum(len(matcher.find(chunk)) for chunk in text.split(". "))
        t_ours = time.process_time() - t0
        print(f"bare pyahocorasick iter():      {mb / t_bare:6.1f} MB/s  ({n_raw:,} raw, overlapping matches)")
        print(f"bare pyahocorasick iter_long(): {mb / t_long:6.1f} MB/s  ({n_long:,} leftmost-longest, no word check)")
        print(f"EntityMatcher.find():           {mb / t_ours:6.1f} MB/s  "
              f"({n_ours:,} whole-word, longest, per sentence)")
        print(f"ratio EntityMatcher / bare iter(): {t_bare / t_ours:.2f}x throughput")
        emit(Result("bench_entity_matcher", f"matching MB/s of text, {args.entries:,} entries", mb / t_ours,
                    mb / t_bare, "bare pyahocorasick iter()", note="whole-word longest vs raw overlapping"))


if __name__ == "__main__":
    main()
