"""Teacher rationales for TinyLLM: prompts, sources and parsing.

A *rationale source* turns training examples into one raw teacher output per example:

- :class:`GeneratorTeacher` prompts any :class:`~lit_agents.generation.TextGenerator` (a local transformers
  model, an OpenAI-compatible endpoint) with TinyLLM's teacher-forcing chain-of-thought prompt: ``k`` in-context
  examples drawn (seeded, per question) from the same training split, then the question, its options **and the
  gold answer**, then ``Rationale: Let's think step by step.`` (dissertation §3.4.2, Eq. 3.1). With
  ``teacher_forcing=False`` the gold answer is left out (plain CoT: the "w/o teacher-forcing" ablation and the
  teacher's own label for standard KD). Calls go through :class:`~lit_agents.generation.CachedGenerator`, so an
  interrupted collection resumes where it stopped.
- :class:`PreCollectedRationales` reads the rationales the TinyLLM authors released (FLAN-T5-xl then LLaMA-2-chat
  in one string per example, ``{split}_CoT_{i}.json`` files paired by position with ``{ds}_{split}.json``).

:func:`parse_rationale` cleans a raw output (echoed prompt, "Let's think step by step.", a following example,
"Thus, the answer is (x) ...") and classifies it as ``ok`` / ``empty`` / ``unparseable`` / ``missing``.
"""

from __future__ import annotations

import glob
import logging
import random
import re
import string
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tqdm.auto import tqdm

from data_modules.mcqa import LETTERS, load_mcqa_file, resolve_path
from lit_agents.fileio import DataError, content_sha256, load_json_document
from lit_agents.generation import CachedGenerator, GenerationError, TextGenerator
from lit_agents.prompts import load_prompt

log = logging.getLogger(__name__)

Status = Literal["ok", "empty", "unparseable", "missing"]
STATUSES: tuple[Status, ...] = ("ok", "empty", "unparseable", "missing")


def options_text(choices: Sequence[str]) -> str:
    """``(a) c0 (b) c1 ...`` as in the released teacher prompt."""
    return " ".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(choices))


def answer_text(ex: Mapping) -> str:
    return f"({LETTERS[ex['answer_index']]}) {ex['answer_text']}"


def icl_examples(ex: Mapping, pool: Sequence[Mapping], k: int, seed: int) -> list[Mapping]:
    """``k`` in-context examples drawn from ``pool`` (the same training split), never the question itself.

    The draw is seeded by ``(seed, dataset, id)``, so it does not depend on the order or size of the collection
    and the cached prompts stay valid when more examples are added.
    """
    if k <= 0:
        return []
    q = ex["question"].strip()
    candidates = sorted((p for p in pool if p["id"] != ex["id"] and p["question"].strip() != q),
                        key=lambda p: p["id"])  # sorted: the draw must not depend on the pool's order
    rng = random.Random(f"{seed}:{ex['dataset']}:{ex['id']}")
    return rng.sample(candidates, min(k, len(candidates)))


def build_teacher_prompt(ex: Mapping, examples: Sequence[Mapping], *, teacher_forcing: bool, template: str,
                         example_template: str) -> str:
    """The teacher prompt for one question (released format: ``Question/Options/Answer/Rationale``)."""
    shots = "".join(example_template.strip("\n").format(question=e["question"], options=options_text(e["choices"]),
                                                        answer=answer_text(e)) + "\n\n" for e in examples)
    fields = dict(examples=shots, question=ex["question"], options=options_text(ex["choices"]))
    if teacher_forcing:
        if "{answer}" not in template:
            raise ValueError("a teacher-forcing template must contain {answer} (the gold answer)")
        fields["answer"] = answer_text(ex)
    return template.rstrip("\n").format(**fields)


@dataclass
class ParsedRationale:
    """A cleaned teacher output: the rationale text, the teacher's own answer (index) if stated, a status."""

    text: str
    label_index: int | None
    status: Status


_ANSWER = re.compile(r"(?:thus|so|therefore|hence)\s*,?\s*the\s+(?:correct\s+)?answer\s+is\s*:?", re.I)
_NEXT_EXAMPLE = re.compile(r"\n\s*(?:Question|Q)\s*:", re.I)
_LEAD = re.compile(r"^\s*(?:rationale\s*:)?\s*(?:let'?s think step by step\.?)?\s*", re.I)
_LETTER = re.compile(r"^\s*\(?([a-z])\)")


def _norm(s: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", s.lower()).split())


def _label_index(tail: str, choices: Sequence[str]) -> int | None:
    m = _LETTER.match(tail)
    if m and LETTERS.index(m.group(1).lower()) < len(choices):
        return LETTERS.index(m.group(1).lower())
    t = _norm(tail.split("\n")[0])
    hits = [i for i, c in enumerate(choices) if _norm(c) and (t == _norm(c) or t.startswith(_norm(c) + " "))]
    return hits[0] if len(hits) == 1 else None


def _looks_like_text(s: str, min_words: int) -> bool:
    """At least ``min_words`` alphabetic words and mostly printable letters/digits/punctuation."""
    words = re.findall(r"[^\W\d_]{2,}", s)
    printable = sum(ch.isalnum() or ch.isspace() or ch in string.punctuation for ch in s)
    return len(words) >= min_words and printable >= 0.8 * len(s)


def parse_rationale(raw: str | None, choices: Sequence[str], *, prompt: str | None = None,
                    max_chars: int | None = None, min_words: int = 3) -> ParsedRationale:
    """Clean one raw teacher output.

    Strips an echoed prompt and the leading ``Let's think step by step.``, cuts at a following
    ``Question:``/``Q:`` (the teacher continuing with a new example), splits off ``Thus, the answer is (x) ...``
    (parsed into ``label_index``), and truncates to ``max_chars`` at a word boundary.
    Status: ``missing`` (no output), ``empty`` (nothing left), ``unparseable`` (fewer than ``min_words`` words or
    mostly non-text bytes), else ``ok``.
    """
    if raw is None:
        return ParsedRationale("", None, "missing")
    text = raw
    if prompt and text.startswith(prompt):
        text = text[len(prompt):]
    text = _LEAD.sub("", text, count=1)
    m = _NEXT_EXAMPLE.search(text)
    if m:
        text = text[:m.start()]
    label = None
    m = _ANSWER.search(text)
    if m:
        label = _label_index(text[m.end():], choices)
        text = text[:m.start()]
    text = text.strip()
    if max_chars is not None and len(text) > max_chars:
        cut = text.rfind(" ", 0, max_chars + 1)
        text = text[:cut if cut > 0 else max_chars].rstrip()
    if not text:
        return ParsedRationale("", label, "empty")
    if not _looks_like_text(text, min_words):
        return ParsedRationale(text, label, "unparseable")
    return ParsedRationale(text, label, "ok")


class RationaleSource(ABC):
    """Produces one raw teacher output (or ``None`` when it has none) per example."""

    def __init__(self, name: str):
        if not name or not re.fullmatch(r"[\w.\-]+", name):
            raise ValueError(f"teacher name {name!r}: use letters, digits, '.', '_' or '-'")
        self.name = name

    @abstractmethod
    def collect(self, examples: Sequence[Mapping], pool: Mapping[str, Sequence[Mapping]],
                cache_dir: Path) -> list[tuple[str | None, str | None]]:
        """``(raw_output, prompt)`` per example; ``pool`` maps dataset name to its training examples."""

    def identity(self) -> dict:
        return {"type": type(self).__name__, "name": self.name}


class GeneratorTeacher(RationaleSource):
    """A live teacher: any ``TextGenerator`` prompted with teacher-forcing CoT and ``k_shot`` examples.

    Args:
        name: teacher name (prefix routing, logs, cache file ``<cache_dir>/teacher_<name>.jsonl``).
        generator: the model (``TransformersGenerator``, ``OpenAIGenerator``, ...).
        k_shot: in-context examples from the same training split (paper: 2; 0 = the "w/o in-context" ablation).
        teacher_forcing: put the gold answer in the prompt (paper); False = plain CoT.
        template, example_template: prompt names in ``lit_agents/prompts`` or file paths; ``None`` picks
            ``tinyllm_teacher_forcing`` / ``tinyllm_plain_cot`` and ``tinyllm_icl_example``.
        seed: seeds the in-context draw.
        max_new_tokens, temperature: teacher sampling (greedy by default).
        stop: stop strings (a new ``Question:`` ends the rationale).
        chunk_size: prompts per generator call (progress granularity; the cache is written per result).
        use_cache: keep results in the resumable JSONL cache.
    """

    def __init__(self, name: str, generator: TextGenerator, *, k_shot: int = 2, teacher_forcing: bool = True,
                 template: str | None = None, example_template: str = "tinyllm_icl_example", seed: int = 0,
                 max_new_tokens: int = 256, temperature: float = 0.0, stop: list[str] | None = None,
                 chunk_size: int = 256, use_cache: bool = True):
        super().__init__(name)
        if k_shot < 0:
            raise ValueError(f"teacher {name}: k_shot must be >= 0, got {k_shot}")
        self.generator, self.k_shot, self.teacher_forcing, self.seed = generator, k_shot, teacher_forcing, seed
        self.template = load_prompt(template or ("tinyllm_teacher_forcing" if teacher_forcing
                                                   else "tinyllm_plain_cot"))
        self.example_template = load_prompt(example_template)
        self.sampling = dict(max_new_tokens=max_new_tokens, temperature=temperature,
                             stop=list(stop) if stop is not None else ["\nQuestion:"])
        self.chunk_size, self.use_cache = max(1, chunk_size), use_cache

    def identity(self) -> dict:
        return {**super().identity(), "generator": self.generator.identity(), "k_shot": self.k_shot,
                "teacher_forcing": self.teacher_forcing, "seed": self.seed, "template": self.template,
                "example_template": self.example_template, "sampling": self.sampling}

    def prompts(self, examples: Sequence[Mapping], pool: Mapping[str, Sequence[Mapping]]) -> list[str]:
        return [build_teacher_prompt(ex, icl_examples(ex, pool.get(ex["dataset"], []), self.k_shot, self.seed),
                                     teacher_forcing=self.teacher_forcing, template=self.template,
                                     example_template=self.example_template) for ex in examples]

    def collect(self, examples, pool, cache_dir):
        prompts = self.prompts(examples, pool)
        gen = (CachedGenerator(self.generator, str(Path(cache_dir) / f"teacher_{self.name}.jsonl"))
               if self.use_cache else self.generator)
        out: list[str] = []
        for start in tqdm(range(0, len(prompts), self.chunk_size), desc=f"teacher {self.name}", leave=False):
            try:
                out.extend(gen.generate(prompts[start:start + self.chunk_size], **self.sampling))
            except GenerationError as e:
                if not isinstance(gen, CachedGenerator):
                    raise
                unique = list(dict.fromkeys(prompts))
                done = sum(gen.cached(unique, **self.sampling))
                raise GenerationError(f"teacher {self.name}: {e}. Collection stopped in the chunk of prompts "
                                      f"{start + 1}-{min(start + self.chunk_size, len(prompts))} of {len(prompts)}: "
                                      f"{done} of {len(unique)} teacher calls are done, the re-run makes only the "
                                      f"other {len(unique) - done}") from e
        return list(zip(out, prompts))


_SPLIT_FILES = {"train": "train", "val": "valid", "test": "test"}


class PreCollectedRationales(RationaleSource):
    """Rationales the TinyLLM authors collected, read from their released files.

    ``{root}/{ds}/{ds}_{split}.json`` holds the questions and ``{root}/{ds}/llm/{split}_CoT_{i}.json`` lists of
    strings paired **by position** with them (``i`` = consecutive blocks of 500). Each string holds the
    FLAN-T5-xl rationale + ``Thus, the answer is (x) ...``, then ``\\n\\nQ: <student input> llama rationale: `` and
    the LLaMA-2-chat rationale. The echoed question is checked against the paired example (a misaligned file
    raises :class:`DataError`).

    Args:
        name: teacher name.
        root: folder with one sub-folder per dataset (``samples:tinyllm`` = the bundled subsample).
        teacher: which half of each string: ``flan_t5`` or ``llama``.
        folders: dataset name -> sub-folder when they differ (default: the dataset name).
    """

    def __init__(self, name: str, root: str = "samples:tinyllm", teacher: Literal["flan_t5", "llama"] = "flan_t5",
                 folders: dict[str, str] | None = None):
        super().__init__(name)
        if teacher not in ("flan_t5", "llama"):
            raise ValueError(f"PreCollectedRationales.teacher must be 'flan_t5' or 'llama', got {teacher!r}")
        self.root, self.teacher, self.folders = root, teacher, dict(folders or {})
        self._tables: dict[tuple[str, str], dict[str, str]] = {}

    def identity(self) -> dict:
        # the rationale files' content, not only the root's path (a replaced release gets a new cache)
        if getattr(self, "_content", None) is None:
            self._content = content_sha256(resolve_path(self.root))
        return {**super().identity(), "root": str(self.root), "teacher": self.teacher, "folders": self.folders,
                "content": self._content}

    def _table(self, dataset: str, split: str) -> dict[str, str]:
        """id -> raw string of this dataset split (loaded once)."""
        key = (dataset, split)
        if key in self._tables:
            return self._tables[key]
        folder = resolve_path(self.root) / self.folders.get(dataset, dataset)
        sp = _SPLIT_FILES.get(split, split)
        qfile = folder / f"{folder.name}_{sp}.json"
        files = glob.glob(str(folder / "llm" / f"{sp}_CoT_*.json"))
        for f in files:
            if not re.search(r"_CoT_\d+\.json$", f):
                raise DataError(f"unexpected rationale file name (want {sp}_CoT_<number>.json: files are paired with "
                                "the questions by their number)", path=f, field="file name")
        files = sorted(files, key=lambda p: int(re.findall(r"_CoT_(\d+)\.json$", p)[0]))
        if not qfile.is_file() or not files:
            raise DataError(f"no pre-collected rationales for dataset {dataset!r} split {split!r} "
                            f"(expected {qfile.name} and llm/{sp}_CoT_*.json)", path=folder)
        questions = load_mcqa_file(qfile, "tinyllm", dataset=dataset, split=split)
        raws: list[tuple[str, int, str]] = []
        for f in files:
            data = load_json_document(f)
            if not isinstance(data, list):
                raise DataError(f"expected a JSON list of strings, got {type(data).__name__}", path=f, line=1)
            raws += [(f, i + 1, s) for i, s in enumerate(data)]
        if len(raws) > len(questions):
            f, i, _ = raws[len(questions)]  # the first rationale without a question
            raise DataError(f"{len(raws)} rationales for {len(questions)} questions in {qfile.name} (files are paired "
                            "by position)", path=f, line=i)
        table: dict[str, str] = {}
        for ex, (f, i, s) in zip(questions, raws):
            if not isinstance(s, str):
                raise DataError(f"expected a string, got {type(s).__name__}", path=f, line=i)
            head, sep, tail = s.partition("\n\nQ:")
            if sep and not tail.strip().startswith(ex["question"].strip()[:40]):
                raise DataError(f"rationale echoes a different question than example {ex['id']!r} (files are "
                                "paired by position: is a file missing or reordered?)", path=f, line=i)
            if self.teacher == "flan_t5":
                table[ex["id"]] = head
            else:
                _, found, llama = s.partition("llama rationale:")
                table[ex["id"]] = llama if found else ""
        self._tables[key] = table
        return table

    def collect(self, examples, pool, cache_dir):
        return [(self._table(ex["dataset"], ex["split"]).get(ex["id"]), None) for ex in examples]
