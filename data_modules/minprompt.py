"""MinPrompt augmentation (dissertation ch. 4.4): NER -> sentence graph -> dominating set -> questions.

1. :func:`load_ner` -- a spaCy pipeline. The named pipeline (``en_core_web_sm``) is used when installed;
   otherwise (it cannot be downloaded here) a blank English pipeline with a sentencizer and an ``entity_ruler``
   built from the gazetteer (plus number/date token patterns), with a logged warning.
2. :func:`extract_sentences` -- one record per sentence with its entities ``(start, end, text, label)``.
3. :func:`select_sentences` -- the paper's greedy dominating set over the co-mention graph (entities keyed by
   exact ``(text, label)`` across the whole corpus, as in the released code), or the MinPrompt-random ablation.
4. :func:`generate_questions` -- every entity of every selected sentence becomes one QA record in the Gotta
   format: a cloze question (answer -> ``[MASK]``) or the "Wh + B + A ?" template, the wh-word sampled from the
   entity type's row of ``wh_table``; optional why/how questions for clauses after "because"/"by <verb>ing".
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from data_modules.cloze import GazetteerStats, iter_gazetteer, mask_span
from data_modules.sentence_graph import build_incidence, greedy_dominating_set

log = logging.getLogger(__name__)

# Wh-phrases per spaCy entity label (METHODS.md §2; the paper samples SQuAD question bigram starters per
# label -- repeat an entry to weight it). Labels not listed use DEFAULT_WH.
DEFAULT_WH_TABLE: dict[str, list[str]] = {
    "PERSON": ["who"],
    "GPE": ["where"], "LOC": ["where"], "FAC": ["where"],
    "DATE": ["when", "what year"], "TIME": ["when"],
    "CARDINAL": ["how many"], "QUANTITY": ["how many", "how much"],
    "MONEY": ["how much"], "PERCENT": ["how much"],
    "ORG": ["what", "which organization"], "NORP": ["what"], "EVENT": ["what", "which event"],
    "WORK_OF_ART": ["what"], "LAW": ["what"], "LANGUAGE": ["what language"], "PRODUCT": ["what"],
    "ORDINAL": ["which"],
}
DEFAULT_WH = ["what", "which"]
MASK = "[MASK]"

# Token patterns so the offline pipeline also finds years, dates and numbers (wh = when / how many).
_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"]
_NUMBER_PATTERNS = [
    {"label": "DATE", "pattern": [{"LOWER": {"IN": _MONTHS}}, {"IS_DIGIT": True, "OP": "?"},
                                  {"ORTH": ",", "OP": "?"}, {"SHAPE": "dddd"}]},
    {"label": "DATE", "pattern": [{"SHAPE": "dddd", "TEXT": {"REGEX": r"^(1[5-9]|20)\d\d$"}}]},
    {"label": "CARDINAL", "pattern": [{"TEXT": {"REGEX": r"^\d[\d,.]*$"}, "OP": "+"}]},
]


def ner_identity(pipeline: str = "en_core_web_sm", gazetteer: str | Path | None = None) -> dict:
    """What :func:`load_ner` will actually load for these options, for cache keys: an installed package with
    its version, a local pipeline directory with the hash of its ``meta.json``, or the gazetteer fallback
    (blank English + entity ruler, which gives different entities than ``en_core_web_sm``)."""
    import spacy

    from data_modules.cloze import file_sha256

    if spacy.util.is_package(pipeline):
        return {"ner": "package", "name": pipeline, "version": spacy.util.get_package_version(pipeline),
                "spacy": spacy.__version__}
    if Path(pipeline).is_dir():
        meta = Path(pipeline) / "meta.json"
        return {"ner": "directory", "path": str(Path(pipeline).resolve()),
                "meta": file_sha256(meta) if meta.is_file() else None, "spacy": spacy.__version__}
    return {"ner": "gazetteer-fallback", "gazetteer": file_sha256(gazetteer) if gazetteer else None,
            "spacy": spacy.__version__}


def load_ner(pipeline: str = "en_core_web_sm", gazetteer: str | Path | None = None, *,
             case_sensitive: bool = True):
    """A spaCy pipeline with sentence boundaries and named entities.

    ``pipeline`` is an installed package or a local directory; when it cannot be loaded, a blank English
    pipeline + sentencizer + entity ruler from ``gazetteer`` is built instead (warning logged, no crash)."""
    import spacy

    if spacy.util.is_package(pipeline) or Path(pipeline).is_dir():
        return spacy.load(pipeline)
    if gazetteer is None:
        raise ValueError(f"spaCy pipeline {pipeline!r} is not installed and no gazetteer was given for the "
                         "offline entity ruler")
    log.warning("spaCy pipeline %r is not installed: using a blank English pipeline with a sentencizer and an "
                "entity ruler built from %s", pipeline, gazetteer)
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "ORTH" if case_sensitive else "LOWER",
                                                  "overwrite_ents": True})
    stats = GazetteerStats(str(gazetteer))
    patterns = [{"label": etype, "pattern": name} for _, name, etype in iter_gazetteer(gazetteer, stats)
                if len(name) >= 2]
    ruler.add_patterns(patterns + _NUMBER_PATTERNS)
    if stats.skipped:
        log.warning("gazetteer %s: skipped %s", gazetteer, stats.skipped)
    return nlp


def extract_sentences(contexts: Sequence[str], nlp, *, batch_size: int = 64) -> list[dict]:
    """Split each context into sentences with their entities.

    Returns records ``{context_index, start, end, text, entities: [[start, end, text, label], ...]}`` with
    offsets relative to the sentence."""
    out = []
    for c_i, doc in enumerate(nlp.pipe(contexts, batch_size=batch_size)):
        for sent in doc.sents:
            text = sent.text
            if not text.strip():
                continue
            base = sent.start_char
            ents = [[e.start_char - base, e.end_char - base, e.text, e.label_] for e in sent.ents]
            out.append({"context_index": c_i, "start": base, "end": sent.end_char, "text": text,
                        "entities": ents})
    return out


Selection = Literal["dominating", "random", "all"]


def select_sentences(sentences: Sequence[dict], *, selection: Selection = "dominating", keep_isolated: bool = True,
                     seed: int = 0) -> list[int]:
    """Indices of the sentences to turn into questions.

    ``dominating``: Algorithm 1 on the co-mention graph (entity key = exact (text, label)); with
    ``keep_isolated=False`` sentences sharing no entity are dropped, as the released code did.
    ``random``: the MinPrompt-random ablation -- as many sentences as the dominating set, sampled uniformly.
    ``all``: every sentence. Sentences without any entity can never yield a question and are not counted."""
    keys = [[(e[2], e[3]) for e in s["entities"]] for s in sentences]
    selected = greedy_dominating_set(keys)
    if not keep_isolated:
        inc = build_incidence(keys)
        has_edge = (inc.sent_ptr[1:] - inc.sent_ptr[:-1]) > 0
        selected = [i for i in selected if has_edge[i]]
    selected = [i for i in selected if sentences[i]["entities"]]
    if selection == "dominating":
        return sorted(selected)
    with_ents = [i for i, s in enumerate(sentences) if s["entities"]]
    if selection == "all":
        return with_ents
    if selection == "random":
        return sorted(random.Random(seed).sample(with_ents, len(selected)))
    raise ValueError(f"unknown selection {selection!r} (dominating, random, all)")


_TRAILING = re.compile(r"[\s.!?;:,]+$")
_LEADING = re.compile(r"^[\s.!?;:,]+")
_CLAUSE = re.compile(r"\b(because|by)\s+([^,.;:!?]+)", re.IGNORECASE)


def _strip_end(text: str) -> str:
    return _TRAILING.sub("", text).strip()


def _strip_both(text: str) -> str:
    return _strip_end(_LEADING.sub("", text))


def wba_question(sentence: str, start: int, end: int, wh: str) -> str:
    """"Wh + B + A ?" for a sentence ``[A] [answer] [B]`` (released order: ``"{wh} {B}, {A}?"``).

    Punctuation at either edge of A and B (the comma after an answer, the final full stop) is dropped, so
    "The game, played in [Santa Clara], was close." gives "Where was close, The game, played in?"."""
    a, b = _strip_both(sentence[:start]), _strip_both(sentence[end:])
    parts = [p for p in (b, a) if p]
    q = f"{wh} {', '.join(parts)}?" if parts else f"{wh}?"
    return q[0].upper() + q[1:]


QuestionStyle = Literal["wba", "cloze", "mixed"]


def generate_questions(
    sentences: Sequence[dict],
    selected: Sequence[int],
    contexts: Sequence[str],
    context_ids: Sequence[str],
    *,
    style: QuestionStyle = "wba",
    wh_table: Mapping[str, Sequence[str]] | None = None,
    mask_answer_in_context: bool = True,
    mask_token: str = "<mask>",
    clause_questions: bool = True,
    seed: int = 0,
) -> list[dict]:
    """One QA record per entity of each selected sentence (plus clause why/how questions when enabled).

    The record's context is the sentence's passage; with ``mask_answer_in_context`` (the paper's
    x_c^aug, §4.4.5) the answer's occurrence in that sentence is replaced by ``mask_token``."""
    rng = random.Random(seed)
    table = {**DEFAULT_WH_TABLE, **(dict(wh_table) if wh_table else {})}
    out: list[dict] = []

    def emit(sent: dict, s: int, e: int, question: str, qtype: str, label: str) -> None:
        ctx = contexts[sent["context_index"]]
        cs, ce = sent["start"] + s, sent["start"] + e
        answer = ctx[cs:ce]
        if mask_answer_in_context:
            context, start = mask_span(ctx, cs, ce, mask_token), -1
        else:
            context, start = ctx, cs
        out.append({"id": f"{context_ids[sent['context_index']]}-mp{len(out)}", "context": context,
                    "question": question, "answers": [answer], "answer_starts": [start],
                    "entity_type": label, "question_type": qtype,
                    "source_id": context_ids[sent["context_index"]]})

    for i in selected:
        sent = sentences[i]
        text = sent["text"]
        for s, e, _, label in sent["entities"]:
            kind = style if style != "mixed" else rng.choice(["wba", "cloze"])
            if kind == "cloze":
                emit(sent, s, e, mask_span(text, s, e, MASK), "cloze", label)
            else:
                wh = rng.choice(list(table.get(label) or DEFAULT_WH))
                emit(sent, s, e, wba_question(text, s, e, wh), "wba", label)
        if clause_questions:
            for m in _CLAUSE.finditer(text):
                clause = m.group(2).strip()
                word = m.group(1).lower()
                if len(clause.split()) < 3 or (word == "by" and not clause.split()[0].lower().endswith("ing")):
                    continue
                s, e = m.start(2), m.start(2) + len(clause)
                wh = "why" if word == "because" else "how"
                head = _strip_end(text[:m.start(1)])
                if head:
                    emit(sent, s, e, f"{wh.capitalize()} {head[0].lower() + head[1:]}?", wh, "CLAUSE")
    return out
