"""Entity-aware cloze augmentation (Gotta, dissertation ch. 2.4.1-2.4.2).

:class:`EntityMatcher` finds gazetteer entities in text with Aho-Corasick exact multi-pattern matching
(pyahocorasick), keeping whole-word matches only and, where matches overlap, the longest one (ties: the
leftmost). :func:`make_cloze_examples` turns each matched entity of each training context into one cloze QA
record in the Gotta format (question "What is the masked entity?", the entity replaced by the mask token in the
context, answer = the entity text).

Gazetteer file: UTF-8 text, one entity per line, optionally ``<TAB>TYPE`` (e.g. ``Paris\\tGPE``). Blank lines
are skipped and counted (or raise with ``on_blank="raise"``); non-UTF-8 bytes raise a DataError with the line.

The built automaton is cached on disk under ``cache_dir`` keyed by the SHA-256 of the gazetteer bytes and the
matching options. The automaton stores plain integers (``STORE_INTS``: no pickled Python objects), and the
cache is only loaded when its side-car json carries the same key and the automaton file's own SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import ahocorasick

from lit_agents.fileio import DataError, atomic_path, atomic_write_text

log = logging.getLogger(__name__)

_CACHE_VERSION = 1
_TYPE_BITS = 16  # automaton value = key_length << 16 | type_id (STORE_INTS: ints only, nothing pickled)
DEFAULT_TYPE = "ENTITY"
CLOZE_QUESTION = "What is the masked entity?"  # q_aug, Gotta eq. in 2.4.2
WHAT_QUESTION = "What?"  # the Gotta-what ablation (2.5.3.3)
_WORD = re.compile(r"\S+")


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _fold(text: str) -> str:
    """Lower-case without changing the string length, so match offsets stay valid in the original text."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


@dataclass
class GazetteerStats:
    """Counts from reading a gazetteer: entries added and lines skipped, by reason."""

    path: str
    added: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def iter_gazetteer(path: str | Path, stats: GazetteerStats, *, on_blank: Literal["skip", "raise"] = "skip"):
    """Yield ``(line_no, name, type)`` from a gazetteer file (``name[<TAB>type]`` per line, UTF-8).

    Blank lines are counted in ``stats`` (or raise with ``on_blank="raise"``); bad UTF-8 raises a DataError
    naming the line."""
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                raise DataError(f"not valid UTF-8 ({err.reason})", path=str(path), line=line_no,
                                field="entity") from None
            if not line.strip():
                if on_blank == "raise":
                    raise DataError("blank line", path=str(path), line=line_no, field="entity")
                stats.skip("blank line")
                continue
            name, _, etype = line.partition("\t")
            yield line_no, name.strip(), etype.strip() or DEFAULT_TYPE


class EntityMatcher:
    """Whole-word, longest-non-overlapping gazetteer matching with pyahocorasick.

    Args:
        gazetteer: path of the gazetteer file (one entity per line, optional ``<TAB>TYPE``).
        case_sensitive: match case exactly (default). When False both keys and text are lower-cased.
        min_length: entries shorter than this many characters are skipped (counted).
        cache_dir: directory for the built automaton (None: no cache).
        on_blank: ``"skip"`` (count blank lines) or ``"raise"``.
    """

    def __init__(
        self,
        gazetteer: str | Path,
        *,
        case_sensitive: bool = True,
        min_length: int = 2,
        cache_dir: str | Path | None = None,
        on_blank: Literal["skip", "raise"] = "skip",
    ) -> None:
        self.path = Path(gazetteer)
        if not self.path.is_file():
            raise DataError("gazetteer file not found", path=str(self.path), field=None)
        self.case_sensitive = case_sensitive
        self.min_length = min_length
        self.on_blank = on_blank
        self.stats = GazetteerStats(str(self.path))
        self.key = self._cache_key()
        self.loaded_from_cache = False
        cache = Path(cache_dir) if cache_dir else None
        if cache is not None and self._load_cache(cache):
            self.loaded_from_cache = True
        else:
            self.automaton, self.types = self._build()
            if cache is not None:
                self._save_cache(cache)

    # ---------------------------------------------------------------- building
    def _cache_key(self) -> str:
        opts = json.dumps({"v": _CACHE_VERSION, "case": self.case_sensitive, "min": self.min_length,
                           "blank": self.on_blank}, sort_keys=True)
        return hashlib.sha256((file_sha256(self.path) + opts).encode()).hexdigest()

    def _build(self) -> tuple[ahocorasick.Automaton, list[str]]:
        auto = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        types: list[str] = []
        type_ids: dict[str, int] = {}
        stats = self.stats
        for line_no, name, etype in iter_gazetteer(self.path, stats, on_blank=self.on_blank):
            if len(name) < self.min_length:
                stats.skip(f"shorter than {self.min_length} chars")
                continue
            tid = type_ids.get(etype)
            if tid is None:
                tid = type_ids[etype] = len(types)
                types.append(etype)
                if tid >= 1 << _TYPE_BITS:
                    raise DataError("more than 65536 entity types", path=str(self.path), line=line_no,
                                    field="type")
            key = name if self.case_sensitive else _fold(name)
            # First occurrence wins; a repeated key (even with another type) is counted, not re-added.
            if auto.add_word(key, (len(key) << _TYPE_BITS) | tid):
                stats.added += 1
            else:
                stats.skip("duplicate entry")
        if stats.added == 0:
            raise DataError("gazetteer has no usable entry", path=str(self.path), field="entity")
        auto.make_automaton()
        if stats.skipped:
            log.warning("gazetteer %s: %d entries, skipped %s", self.path, stats.added, stats.skipped)
        return auto, types

    def _cache_files(self, cache: Path) -> tuple[Path, Path]:
        return cache / f"{self.key}.automaton", cache / f"{self.key}.json"

    def _save_cache(self, cache: Path) -> None:
        cache.mkdir(parents=True, exist_ok=True)
        auto_path, meta_path = self._cache_files(cache)
        # Write to temporary names then rename, so concurrent ranks never read a half-written cache.
        with atomic_path(auto_path) as tmp:
            self.automaton.save(str(tmp))  # STORE_INTS: no serializer, nothing pickled
            digest = file_sha256(tmp)
        meta = {"key": self.key, "automaton_sha256": digest, "types": self.types,
                "added": self.stats.added, "skipped": self.stats.skipped}
        atomic_write_text(meta_path, json.dumps(meta))

    def _load_cache(self, cache: Path) -> bool:
        auto_path, meta_path = self._cache_files(cache)
        if not (auto_path.is_file() and meta_path.is_file()):
            return False
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError):
            return False
        if meta.get("key") != self.key or meta.get("automaton_sha256") != file_sha256(auto_path):
            log.warning("ignoring stale or corrupted matcher cache %s", auto_path)
            return False
        self.automaton = ahocorasick.load(str(auto_path), _no_pickle)
        if self.automaton.kind != ahocorasick.AHOCORASICK:
            return False
        self.types = list(meta["types"])
        self.stats.added = int(meta["added"])
        self.stats.skipped = dict(meta["skipped"])
        return True

    # ---------------------------------------------------------------- matching
    def __len__(self) -> int:
        return self.stats.added

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """Entity matches in ``text`` as ``(start, end, type)`` with ``text[start:end]`` the entity.

        Only whole-word matches are kept (a key edge that is a word character must not touch another word
        character); among overlapping matches the longest wins, ties to the leftmost. Sorted by start."""
        hay = text if self.case_sensitive else _fold(text)
        n = len(hay)
        cands: list[tuple[int, int, int]] = []
        for last, value in self.automaton.iter(hay):
            length = value >> _TYPE_BITS
            start, end = last - length + 1, last + 1
            if start > 0 and _is_word_char(hay[start]) and _is_word_char(hay[start - 1]):
                continue
            if end < n and _is_word_char(hay[last]) and _is_word_char(hay[end]):
                continue
            cands.append((start, end, value & ((1 << _TYPE_BITS) - 1)))
        if not cands:
            return []
        cands.sort(key=lambda c: (c[0] - c[1], c[0]))  # longest first, then leftmost
        taken = bytearray(n)
        out = []
        for start, end, tid in cands:
            if any(taken[start:end]):
                continue
            taken[start:end] = b"\x01" * (end - start)
            out.append((start, end, self.types[tid]))
        out.sort()
        return out


def _no_pickle(_: object) -> bytes:  # pragma: no cover - STORE_INTS automata never call the (de)serializer
    raise RuntimeError("EntityMatcher caches store integers only; refusing to (de)serialise Python objects")


ClozeVariant = Literal["entity", "random", "what"]


def mask_span(context: str, start: int, end: int, mask_token: str) -> str:
    """``context`` with ``context[start:end]`` replaced by ``mask_token``."""
    if not 0 <= start < end <= len(context):
        raise ValueError(f"invalid span [{start}, {end}) for a context of length {len(context)}")
    return context[:start] + mask_token + context[end:]


def _word_spans(text: str) -> list[tuple[int, int]]:
    """Whitespace-separated words without their leading/trailing punctuation (punctuation-only runs dropped)."""
    spans = []
    for m in _WORD.finditer(text):
        s, e = m.start(), m.end()
        while s < e and not _is_word_char(text[s]):
            s += 1
        while e > s and not _is_word_char(text[e - 1]):
            e -= 1
        if s < e:
            spans.append((s, e))
    return spans


def make_cloze_examples(
    records: list[dict],
    matcher: EntityMatcher,
    *,
    variant: ClozeVariant = "entity",
    mask_token: str = "<mask>",
    seed: int = 0,
    max_per_context: int | None = None,
) -> list[dict]:
    """One cloze QA record per matched entity of each distinct context of ``records``.

    ``variant="entity"``: Gotta; ``"what"``: same spans, question "What?"; ``"random"`` (Gotta-random): for
    each entity match a random word-aligned span with the same number of words is masked instead, so the
    amount of augmentation is the same. Records carry ``id, context (masked), question, answers,
    answer_starts=[-1], span=[start, end], entity_type, source_id``."""
    rng = random.Random(seed)
    out: list[dict] = []
    seen: set[str] = set()
    question = WHAT_QUESTION if variant == "what" else CLOZE_QUESTION
    for rec in records:
        ctx = rec["context"]
        if ctx in seen:
            continue
        seen.add(ctx)
        matches = matcher.find(ctx)
        if max_per_context is not None:
            matches = matches[:max_per_context]
        words = _word_spans(ctx) if variant == "random" else []
        for j, (start, end, etype) in enumerate(matches):
            if variant == "random":
                n_words = max(1, len(ctx[start:end].split()))
                if len(words) < n_words:
                    continue
                w = rng.randrange(len(words) - n_words + 1)
                start, end, etype = words[w][0], words[w + n_words - 1][1], "RANDOM"
            out.append({
                "id": f"{rec['id']}-cloze{j}",
                "context": mask_span(ctx, start, end, mask_token),
                "question": question,
                "answers": [ctx[start:end]],
                "answer_starts": [-1],
                "span": [start, end],
                "entity_type": etype,
                "source_id": rec["id"],
            })
    return out
