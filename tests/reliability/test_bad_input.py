"""Property-based bad input for every DataModule reader.

Hypothesis writes files mixing valid records with malformed ones (a field missing or of the wrong type, empty
strings, an enormous line, invalid UTF-8, NaN/inf numbers, truncated JSON) and reads them with the reader the
DataModule uses. The only allowed outcomes: records, or ``data_modules.io.DataError`` naming the file and the
line/record (and the field where there is one); under ``on_error="skip"`` a record-level fault is a counted
skip, so the valid records still come back. Anything else (KeyError, TypeError, UnicodeDecodeError, ...) fails.
"""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_modules.basketball.sportvu import read_sportvu_game
from data_modules.io import DataError
from data_modules.mcqa import load_mcqa_file
from data_modules.preference import PreferenceSource, load_pairs
from data_modules.qa import read_mrqa, read_squad
from data_modules.redteam_sources import RedTeamSource, load_source
from data_modules.sft import load_sft_records

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
WRONG = [None, 0, 1.5, True, [], ["x"], {}, {"a": 1}, "", " ", math.nan, math.inf]


def _valid(kind: str, i: int) -> dict:
    if kind == "mrqa":
        ctx = f"Paris is the capital of France {i}."
        return {"context": ctx, "qas": [{"qid": f"q{i}", "question": "What is the capital?", "answers": ["Paris"],
                                         "detected_answers": [{"text": "Paris", "char_spans": [[0, 4]]}]}]}
    if kind == "mcqa":
        return {"id": f"m{i}", "question": f"Which one {i}?", "choices": ["a", "b", "c"], "answer_index": 1}
    if kind == "redteam":
        return {"question": f"How do I do thing {i}?", "category": "misc"}
    if kind == "hh":
        return {"chosen": f"\n\nHuman: question {i}?\n\nAssistant: yes", "rejected": f"\n\nHuman: question {i}?"
                                                                                    "\n\nAssistant: no"}
    if kind == "pairs":
        return {"prompt": f"prompt {i}", "chosen": "good answer", "rejected": "bad answer"}
    if kind == "sft":
        return {"prompt": f"prompt {i}", "response": f"response {i}"}
    raise ValueError(kind)


@st.composite
def _line(draw, kind: str, i: int) -> tuple[bytes, bool]:
    """One line of a jsonl file and whether it is a well-formed record."""
    rec = _valid(kind, i)
    fault = draw(st.sampled_from(["valid", "missing", "wrong", "nested_wrong", "empty", "huge", "utf8", "nan",
                                  "truncated", "not_object"]))
    keys = sorted(rec)
    if fault == "valid":
        return json.dumps(rec).encode(), True
    if fault == "missing":
        rec.pop(draw(st.sampled_from(keys)))
    elif fault == "wrong":
        rec[draw(st.sampled_from(keys))] = draw(st.sampled_from(WRONG))
    elif fault == "nested_wrong":  # the first list/dict value gets wrong-typed elements
        k = next((k for k in keys if isinstance(rec[k], (list, dict))), keys[0])
        rec[k] = [draw(st.sampled_from(WRONG))] if isinstance(rec[k], list) else {"x": draw(st.sampled_from(WRONG))}
        if kind == "mrqa":
            rec["qas"] = [{"qid": "z", "question": draw(st.sampled_from(WRONG)),
                           "detected_answers": [{"char_spans": draw(st.sampled_from([[["a", "b"]], [[5]], [None],
                                                                                     "x", [[2, 1]]]))}],
                           "answers": draw(st.sampled_from(WRONG))}]
    elif fault == "empty":
        for k in keys:
            if isinstance(rec[k], str):
                rec[k] = ""
    elif fault == "huge":
        k = next(k for k in keys if isinstance(rec[k], str))
        rec[k] = "x" * 200_000
        return json.dumps(rec).encode(), None  # valid or refused, both fine
    elif fault == "utf8":
        return json.dumps(rec).encode()[:-3] + b"\xff\xfe\x80" + b'"}', False
    elif fault == "nan":
        return json.dumps({**rec, keys[0]: draw(st.sampled_from([math.nan, math.inf, -math.inf]))}).encode(), False
    elif fault == "truncated":
        text = json.dumps(rec).encode()
        return text[: draw(st.integers(1, len(text) - 1))], False
    elif fault == "not_object":
        return json.dumps(draw(st.sampled_from([[1, 2], "text", 3, None]))).encode(), False
    return json.dumps(rec).encode(), None


@st.composite
def jsonl_files(draw, kind: str) -> list[tuple[bytes, bool]]:
    n = draw(st.integers(1, 5))
    return [draw(_line(kind, i)) for i in range(n)]


def _write(tmp: Path, name: str, data: bytes) -> Path:
    d = tmp / uuid.uuid4().hex[:8]
    d.mkdir()
    p = d / name
    p.write_bytes(data)
    return p


def _assert_located(err: DataError, path: Path, *, need_line: bool = True) -> None:
    assert err.path is not None and path.name in err.path, f"DataError does not name the file: {err}"
    if need_line:
        assert err.line is not None, f"DataError does not name the line/record: {err}"
    elif "found" not in str(err):  # "no questions found": a fault of the whole file, nothing else to name
        assert err.line is not None or err.field is not None, f"DataError names neither record nor field: {err}"


def _run(read, path: Path, *, need_line: bool = True):
    """``read(on_error)`` under raise and skip: records or a located DataError; never another exception."""
    try:
        out = read("raise")
    except DataError as err:
        _assert_located(err, path, need_line=need_line)
        out = None
    try:
        skipped = read("skip")
    except DataError as err:  # file-level faults (undecodable, truncated JSON) cannot be skipped
        _assert_located(err, path, need_line=need_line)
        skipped = None
    return out, skipped


def _outcome(out, skipped) -> str:
    if out is not None:
        return "read (every record valid)"
    if skipped is not None:
        return "DataError naming file, line, field; under on_error=skip the bad records are counted skips"
    return "DataError naming file and line under raise and skip (a file-level fault)"


FAULTS = "missing/wrong-typed/empty fields, huge line, invalid UTF-8, NaN/inf, truncated JSON, non-object"

LINE_READERS = {
    "mrqa": ("mrqa", lambda p, e: read_mrqa(p, on_error=e)[0]),
    "mcqa": ("mcqa", lambda p, e: load_mcqa_file(p, "jsonl", dataset="t", on_error=e)),
    "preference_pairs": ("pairs", lambda p, e: load_pairs(PreferenceSource(str(p), format="pairs"), on_error=e)),
    "preference_hh": ("hh", lambda p, e: load_pairs(PreferenceSource(str(p), format="hh_rlhf"), on_error=e)),
    "sft": ("sft", lambda p, e: load_sft_records(str(p), on_error=e)),
}


@pytest.mark.parametrize("reader", sorted(LINE_READERS))
def test_jsonl_readers_refuse_bad_records_clearly(reader, tmp_path, reliability_log):
    kind, read = LINE_READERS[reader]

    @SETTINGS
    @given(lines=jsonl_files(kind))
    def check(lines):
        path = _write(tmp_path, "data.jsonl", b"\n".join(text for text, _ in lines) + b"\n")
        out, skipped = _run(lambda e: read(path, e), path)
        if all(ok for _, ok in lines):
            assert out is not None and len(out) >= len(lines), "valid records refused"
        if out is not None and skipped is not None:
            assert len(skipped) == len(out)
        reliability_log.count("bad input", f"{reader} jsonl file of 1-5 lines: {FAULTS}", _outcome(out, skipped))

    check()


REDTEAM_FORMATS = {"hh": "hh", "records": "redteam"}


@pytest.mark.parametrize("fmt", sorted(REDTEAM_FORMATS))
def test_redteam_line_sources_refuse_bad_records_clearly(fmt, tmp_path, reliability_log):
    @SETTINGS
    @given(lines=jsonl_files(REDTEAM_FORMATS[fmt]))
    def check(lines):
        path = _write(tmp_path, "prompts.jsonl", b"\n".join(text for text, _ in lines) + b"\n")
        try:
            load_source(RedTeamSource(str(path), format=fmt, framing="plain"))
            outcome = "read"
        except DataError as err:
            _assert_located(err, path, need_line=False)
            outcome = "DataError naming file and line/field"
        reliability_log.count("bad input", f"red-team prompts ({fmt} jsonl): {FAULTS}", outcome)

    check()


@st.composite
def json_documents(draw) -> bytes:
    """A whole-file JSON value for the document readers (SQuAD, red-team list/nested), often malformed."""
    good_squad = {"data": [{"title": "t", "paragraphs": [{"context": "Paris is in France.", "qas": [
        {"id": "1", "question": "Where is Paris?", "answers": [{"text": "France", "answer_start": 12}]}]}]}]}
    value = draw(st.sampled_from([
        good_squad,
        {"data": [{"paragraphs": [{"context": draw(st.sampled_from(WRONG)), "qas": []}]}]},
        {"data": [{"paragraphs": [{"context": "abc", "qas": [draw(st.sampled_from(WRONG))]}]}]},
        {"data": [{"paragraphs": [{"context": "abc", "qas": [{"id": "1", "question": "q?", "answers": [
            {"text": draw(st.sampled_from(WRONG)), "answer_start": draw(st.sampled_from(WRONG + [-1, 99]))}]}]}]}]},
        {"data": [{"paragraphs": draw(st.sampled_from(WRONG))}]},
        {"data": [draw(st.sampled_from(WRONG))]},
        {"data": draw(st.sampled_from(WRONG))},
        ["q1?", draw(st.sampled_from(WRONG))],
        {"topic": {"sub": ["q?", draw(st.sampled_from(WRONG))]}},
        {"topic": draw(st.sampled_from(WRONG))},
        draw(st.sampled_from(WRONG)),
    ]))
    text = json.dumps(value).encode()
    cut = draw(st.sampled_from(["none", "truncate", "utf8", "huge"]))
    if cut == "truncate" and len(text) > 1:
        text = text[: draw(st.integers(1, len(text) - 1))]
    elif cut == "utf8":
        text = text[:1] + b"\xff\xfe" + text[1:]
    elif cut == "huge":
        text = text + b" " * 300_000
    return text


def test_document_readers_refuse_bad_files_clearly(tmp_path, reliability_log):
    @SETTINGS
    @given(doc=json_documents())
    def check(doc):
        path = _write(tmp_path, "data.json", doc)
        out, skipped = _run(lambda e: read_squad(path, on_error=e)[0], path, need_line=False)
        reliability_log.count("bad input", "SQuAD json document: wrong-typed nodes, bad answer spans, truncated, "
                              "invalid UTF-8, 300 kB", _outcome(out, skipped))
        for fmt in ("list", "nested"):
            try:
                load_source(RedTeamSource(str(path), format=fmt, framing="plain"))
                outcome = "read"
            except DataError as err:
                _assert_located(err, path, need_line=False)
                outcome = "DataError naming file and record/field"
            reliability_log.count("bad input", f"red-team json document ({fmt}): same malformed documents", outcome)

    check()


# ---------------------------------------------------------------- SportVU (basketball: ReLiable, PlayBest)
def _sportvu_game(n_home: int = 5, n_away: int = 5) -> dict:
    def team(tid, n):
        return {"teamid": tid, "name": f"T{tid}", "abbreviation": f"T{tid}",
                "players": [{"playerid": tid * 100 + k, "firstname": "A", "lastname": str(k), "jersey": str(k),
                             "position": "G"} for k in range(n)]}

    moment = [1, 1_450_000_000_000, 700.0, 20.0, None,
              [[-1, -1, 40.0, 25.0, 5.0]] + [[1, 100 + k, 10.0 + k, 20.0, 0.0] for k in range(5)]
              + [[2, 200 + k, 60.0 + k, 20.0, 0.0] for k in range(5)]]
    return {"gameid": "0021500001", "gamedate": "2015-10-27",
            "events": [{"eventId": "1", "visitor": team(2, n_away), "home": team(1, n_home), "moments": [moment]}]}


@st.composite
def sportvu_files(draw) -> tuple[str, bytes]:
    game = _sportvu_game()
    fault = draw(st.sampled_from(["valid", "missing_players", "missing_team", "bad_moment", "nan", "truncated",
                                  "utf8", "fake_7z", "empty_7z"]))
    if fault == "missing_players":
        game["events"][0]["home"]["players"] = game["events"][0]["home"]["players"][:draw(st.integers(0, 4))]
        m = game["events"][0]["moments"][0]
        m[5] = m[5][: draw(st.integers(1, 10))]
    elif fault == "missing_team":
        game["events"][0].pop(draw(st.sampled_from(["home", "visitor"])))
    elif fault == "bad_moment":
        game["events"][0]["moments"][0] = draw(st.sampled_from(WRONG + [[1, 2], [1, 2, 3, 4, 5, "x"]]))
    elif fault == "nan":
        game["events"][0]["moments"][0][5][1][2] = draw(st.sampled_from([math.nan, math.inf]))
    text = json.dumps(game).encode()
    if fault == "truncated":
        return "game.json", text[: draw(st.integers(1, len(text) - 1))]
    if fault == "utf8":
        return "game.json", text[:-2] + b"\xff\xfe" + text[-2:]
    if fault == "fake_7z":
        return "game.7z", draw(st.sampled_from([text, b"", b"7z\xbc\xaf\x27\x1c" + b"\x00" * 20]))
    if fault == "empty_7z":
        return "game.7z", b"7z\xbc\xaf\x27\x1c"
    return "game.json", text


def test_sportvu_reader_refuses_bad_games_clearly(tmp_path, reliability_log):
    @SETTINGS
    @given(case=sportvu_files())
    def check(case):
        name, data = case
        path = _write(tmp_path, name, data)
        try:
            read_sportvu_game(path)
            outcome = "read"
        except DataError as err:
            assert err.path is not None and path.name in err.path, f"DataError does not name the file: {err}"
            outcome = "DataError naming the file (and event/moment/field)"
        reliability_log.count("bad input", "SportVU game: missing players or team, bad moment, NaN/inf position, "
                              "truncated, invalid UTF-8, a .7z that is not an archive or is empty", outcome)

    check()


def test_sportvu_valid_game_is_read(tmp_path):
    """The generator's valid game really is valid (so the property test above exercises the faults)."""
    path = _write(tmp_path, "game.json", json.dumps(_sportvu_game()).encode())
    game = read_sportvu_game(path)
    assert game is not None
