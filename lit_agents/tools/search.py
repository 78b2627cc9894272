"""A search tool over a local corpus, ranked with BM25 (Okapi, through the ``rank_bm25`` package)."""
from __future__ import annotations

import re
from typing import Any

from data_modules.io import read_records
from lit_agents.fileio import DataError, read_utf8

_WORD = re.compile(r"\w+", re.UNICODE)


def bm25_tokens(text: str) -> list[str]:
    """Lower-cased word tokens (the index and the queries are tokenised the same way)."""
    return _WORD.findall(text.lower())


def _squad_passages(path: str) -> list[str] | None:
    """The paragraphs of a SQuAD-format json file (``{"data": [{"title", "paragraphs": [{"context"}]}]}``) as
    ``"Title: context"`` passages, each once; None when the file is not in that format."""
    if not path.endswith(".json"):
        return None
    import json

    try:
        doc = json.loads(read_utf8(path))
    except json.JSONDecodeError:
        return None
    if not (isinstance(doc, dict) and isinstance(doc.get("data"), list) and doc["data"]
            and all(isinstance(a, dict) and isinstance(a.get("paragraphs"), list) for a in doc["data"])):
        return None
    out: dict[str, None] = {}
    for a_i, article in enumerate(doc["data"]):
        title = str(article.get("title", "")).replace("_", " ")
        for p_i, para in enumerate(article["paragraphs"]):
            ctx = para.get("context") if isinstance(para, dict) else None
            if not isinstance(ctx, str) or not ctx.strip():
                raise DataError(f"data[{a_i}].paragraphs[{p_i}]: missing or empty context", path=path,
                                field="context")
            out[f"{title}: {ctx.strip()}" if title else ctx.strip()] = None
    return list(out)


def load_corpus(path: str | list[str], text_field: str = "text", title_field: str | None = "title") -> list[str]:
    """Passages of a ``.txt`` file (one per non-empty line), a SQuAD-format json file (its paragraphs, titled),
    or a json/jsonl/csv/parquet file of records with ``text_field`` (and an optional ``title_field``,
    prepended as ``"title: text"``); a list of such files gives their passages in order."""
    if isinstance(path, list):
        return [d for p in path for d in load_corpus(p, text_field, title_field)]
    if path.endswith(".txt"):
        return [ln.strip() for ln in read_utf8(path).splitlines() if ln.strip()]
    squad = _squad_passages(path)
    if squad is not None:
        return squad
    docs = []
    for rec in read_records(path, required={text_field: str}, name="search corpus"):
        title = rec.get(title_field) if title_field else None
        docs.append(f"{title}: {rec[text_field]}" if isinstance(title, str) and title else rec[text_field])
    return docs


class BM25Search:
    """``search(query)`` → the ``top_k`` best passages of the corpus (BM25Okapi, ``k1``, ``b``).

    Args:
        corpus: a corpus file (see :func:`load_corpus`) or a list of passages.
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.
        text_field: the passage field of a records file.
        title_field: the title field of a records file (None: no titles).
        top_k: passages returned per query.
        max_chars: each passage is cut to this many characters in the observation.
    """

    def __init__(self, corpus: str | list[str], top_k: int = 3, k1: float = 1.5, b: float = 0.75,
                 max_chars: int = 300, text_field: str = "text", title_field: str | None = "title"):
        from rank_bm25 import BM25Okapi

        self.docs = load_corpus(corpus, text_field, title_field) if isinstance(corpus, str) else list(corpus)
        if not self.docs:
            raise DataError("the search corpus is empty", path=corpus if isinstance(corpus, str) else None)
        if top_k < 1:
            raise ValueError(f"search top_k must be >= 1, got {top_k}")
        self.top_k, self.max_chars = top_k, max_chars
        tokens = [bm25_tokens(d) or ["<empty>"] for d in self.docs]
        self.vocab = [set(t) for t in tokens]
        self.index = BM25Okapi(tokens, k1=k1, b=b)

    def search(self, query: str) -> list[str]:
        """Search the local corpus for passages relevant to a query.

        Args:
            query: the search query (keywords or a question).
        """
        q = bm25_tokens(query)
        scores = self.index.get_scores(q)
        # passages sharing no word with the query are never returned (BM25's IDF can be 0 on tiny corpora)
        hits = [i for i in range(len(self.docs)) if self.vocab[i].intersection(q)]
        order = sorted(hits, key=lambda i: (-scores[i], i))[: self.top_k]
        return [self.docs[i][: self.max_chars] for i in order]

    def __call__(self, query: str) -> Any:
        return self.search(query)


def search(query: str) -> list[str]:
    """Search a text corpus for passages relevant to a query.

    Args:
        query: the search query (keywords or a question).

    The schema shown to the model (``data.tools: [lit_agents.tools.search.search]``); the passages come from
    the ``search`` tool of ``ToolEnvironment(search_corpus=...)``, which replaces this placeholder.
    """
    raise RuntimeError("lit_agents.tools.search.search only documents the tool; give the model a "
                       "ToolEnvironment(search_corpus=...) to execute it")
