"""Property-based bad input for every DataModule reader.

Hypothesis writes files mixing valid records with malformed ones (a field missing or of the wrong type, empty
strings, an enormous line, invalid UTF-8, NaN/inf numbers, truncated JSON) and reads them with the reader the
DataModule uses. The only allowed outcomes: records, or ``data_modules.io.DataError`` naming the file and the
line/record (and the field where there is one); under ``on_error="skip"`` a record-level fault is a counted
skip, so the valid records still come back. Anything else (KeyError, TypeError, UnicodeDecodeError, ...) fails.
CSV readers (play-by-play, TruthfulQA, ``read_records``) get short/long rows, missing columns, bad cells, 200 kB
cells, stray quotes and truncated files; the last tests pin the crashes these tests found, one case each.
"""

from __future__ import annotations

import csv
import io
import json
import math
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_modules.alignment_eval import EvalSet, load_eval_set
from data_modules.basketball.pbp import read_pbp
from data_modules.basketball.sportvu import read_sportvu_game
from data_modules.cloze import EntityMatcher
from data_modules.io import samples_dir
from data_modules.mcqa import load_mcqa_file
from data_modules.preference import PreferenceSource, load_pairs
from data_modules.qa import read_mrqa, read_squad
from data_modules.rationales import PreCollectedRationales
from data_modules.redteam_sources import RedTeamSource, load_source
from data_modules.rm_r1_traces import TraceDistillDataModule
from data_modules.sft import load_sft_records
from lit_agents.fileio import DataError

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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
    if kind == "tinyllm":  # TinyLLM release questions (and MCQA format "tinyllm")
        return {"id": f"t{i}", "question": f"Which one {i}?", "choices": ["a", "b", "c"], "answer": "b"}
    if kind == "traces":  # RM-R1 distillation traces
        return {"pair_id": f"pairs.jsonl:{i}:0", "order": "chosen_A" if i % 2 == 0 else "chosen_B",
                "trace": f"<eval>reasons {i}</eval><answer>[[A]]</answer>", "attempt": 1}
    if kind == "ai2":
        return {"id": f"a{i}", "question": {"stem": f"Which one {i}?", "choices": [
            {"text": "a", "label": "A"}, {"text": "b", "label": "B"}]}, "answerKey": "B"}
    if kind == "arc_llm_adapters":
        return {"instruction": f"Please answer the following question.\n\nquestion: Which one {i}?\n\nAnswer1: a "
                               "Answer2: b\n\nAnswer format: answer1/answer2", "answer": "answer2"}
    if kind == "piqa":
        return {"goal": f"Open a jar {i}", "sol1": "twist the lid", "sol2": "hit it"}
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
    "mcqa_tinyllm": ("tinyllm", lambda p, e: load_mcqa_file(p, "tinyllm", dataset="t", on_error=e)),
    "mcqa_ai2": ("ai2", lambda p, e: load_mcqa_file(p, "ai2", dataset="t", on_error=e)),
    "mcqa_arc_llm_adapters": ("arc_llm_adapters",
                              lambda p, e: load_mcqa_file(p, "arc_llm_adapters", dataset="t", on_error=e)),
    # RM-R1 stage 1: the traces file TraceDistillDataModule reads (and appends to)
    "rm_r1_traces": ("traces", lambda p, e: TraceDistillDataModule(traces_path=str(p), val=[],
                                                                  on_error=e)._read_traces()),
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


# ---------------------------------------------------------------- TinyLLM pre-collected rationales
def _rationale(i: int, question: str | None = None) -> str:
    """One released rationale string: FLAN-T5 rationale + answer, then the echoed student input + LLaMA's."""
    q = question or f"Which one {i}?"
    return (f"Because of reason {i}. Thus, the answer is (b) b\n\nQ: {q}\nAnswer Choices:\n(a) a\n(b) b\n(c) c "
            f"llama rationale: Let's think step by step. It is b {i}.")


@st.composite
def rationale_folders(draw) -> tuple[list[tuple[bytes, bool]], str, bytes, bool | None]:
    """(question lines of ``obqa_train.json``, rationale file name, its bytes, whether all is well-formed)."""
    n = draw(st.integers(1, 4))
    if draw(st.booleans()):  # half the time the questions file is fine, so the rationale faults are reached
        questions = [draw(_line("tinyllm", i)) for i in range(n)]
    else:
        questions = [(json.dumps(_valid("tinyllm", i)).encode(), True) for i in range(n)]
    raws: list = [_rationale(i) for i in range(n)]
    fault = draw(st.sampled_from(["valid", "wrong", "empty", "huge", "misaligned", "extra", "fewer", "nan", "utf8",
                                  "truncated", "not_list", "bad_name"]))
    k = draw(st.integers(0, n - 1))
    ok = None
    if fault == "valid":
        ok = True
    elif fault == "wrong":
        raws[k] = draw(st.sampled_from(WRONG))
    elif fault == "empty":
        raws[k] = ""
    elif fault == "huge":
        raws[k] = _rationale(k) + "x" * 200_000
    elif fault == "misaligned":  # the echoed question is another one: files paired in the wrong order
        raws[k] = _rationale(k, question="A completely different question?")
    elif fault == "extra":
        raws.append(_rationale(n))
    elif fault == "fewer":
        raws = raws[:k]
    elif fault == "nan":
        raws[k] = draw(st.sampled_from([math.nan, math.inf]))
    elif fault == "not_list":
        raws = draw(st.sampled_from([{"a": raws}, raws[0], 3, None]))
    text = json.dumps(raws).encode()
    name = "train_CoT_0.json"
    if fault == "utf8":
        text = text[:2] + b"\xff\xfe" + text[2:]
    elif fault == "truncated":
        text = text[: draw(st.integers(1, len(text) - 1))]
    elif fault == "bad_name":
        name = draw(st.sampled_from(["train_CoT_x.json", "train_CoT_0 copy.json", "train_CoT_.json"]))
    if not all(q_ok for _, q_ok in questions):
        ok = None
    return questions, name, text, ok


def test_tinyllm_precollected_rationales_refuse_bad_files_clearly(tmp_path, reliability_log):
    @SETTINGS
    @given(case=rationale_folders(), teacher=st.sampled_from(["flan_t5", "llama"]))
    def check(case, teacher):
        questions, cot_name, cot, ok = case
        root = tmp_path / uuid.uuid4().hex[:8]
        (root / "obqa" / "llm").mkdir(parents=True)
        qfile = root / "obqa" / "obqa_train.json"
        qfile.write_bytes(b"\n".join(text for text, _ in questions) + b"\n")
        (root / "obqa" / "llm" / cot_name).write_bytes(cot)
        try:
            out = PreCollectedRationales("t", root=str(root), teacher=teacher).collect(
                [{"dataset": "obqa", "split": "train", "id": "t0"}], {}, None)
            outcome = "read"
        except DataError as err:
            assert err.path is not None and any(n in err.path for n in ("obqa_train.json", cot_name)), \
                f"DataError does not name the questions or rationale file: {err}"
            assert err.line is not None or err.field is not None, f"DataError names neither record nor field: {err}"
            out, outcome = None, "DataError naming the questions or rationale file and the line/position"
        if ok:
            assert out is not None and isinstance(out[0][0], str), "valid rationale files refused"
        reliability_log.count("bad input", "TinyLLM pre-collected rationales (questions json lines + llm/*_CoT_*.json):"
                              f" {FAULTS}; non-string/NaN/huge/empty rationale, misaligned echo, more or fewer "
                              "rationales than questions, not a list, bad file name", outcome)

    check()


def test_tinyllm_bundled_rationales_still_read():
    """The generator's files mirror the released layout, and the bundled release subsample reads unchanged."""
    out = PreCollectedRationales("t").collect([{"dataset": "obqa", "split": "train", "id": "1834"}], {}, None)
    assert out[0][0].startswith("Winter is the season")


# ---------------------------------------------------------------- CSV readers (pbp, TruthfulQA, read_records)
CSV_WRONG = ["", " ", "x", "nan", "inf", "-inf", "1e400", "1.5", "-1", "None", "NA", "12:60", "1:nan", "1:inf",
             "-1:00", "a:b", "1:2:3", "11-34", "1 - x", ";", "a\x00b", '"', "\n"]
CSV_FAULTS = ("missing column, short/long row, empty or wrong cell (nan, inf, 1e400, bad clock/score, NUL), 200 kB "
              "cell, invalid UTF-8, stray quote, truncated, empty, header only")


def _csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode()


@st.composite
def csv_files(draw, header: list[str], rows: list[list[str]], columns: list[str]) -> tuple[bytes, bool | None]:
    """A CSV of ``rows`` under ``header`` with one fault (or none, then True); ``columns``: the ones to corrupt."""
    header, rows = list(header), [list(r) for r in rows]
    fault = draw(st.sampled_from(["valid", "missing_column", "short_row", "long_row", "wrong_value", "huge", "utf8",
                                  "stray_quote", "truncated", "empty", "header_only", "blank_lines"]))
    r = draw(st.integers(0, len(rows) - 1))
    col = header.index(draw(st.sampled_from(columns)))
    if fault in ("valid", "blank_lines"):
        data = _csv_bytes(header, rows)
        return (data.replace(b"\n", b"\n\n", 2) if fault == "blank_lines" else data), True
    if fault == "missing_column":
        del header[col]
        for row in rows:
            del row[col]
    elif fault == "short_row":
        rows[r] = rows[r][: draw(st.integers(1, len(header) - 1))]
    elif fault == "long_row":
        rows[r] += ["extra"] * draw(st.integers(1, 3))
    elif fault == "wrong_value":
        rows[r][col] = draw(st.sampled_from(CSV_WRONG))
    elif fault == "huge":  # over the csv module's 128 kB field limit
        rows[r][col] = "x" * 200_000
    elif fault == "header_only":
        rows = []
    data = _csv_bytes(header, rows)
    body = len(data.split(b"\n", 1)[0]) + 1
    if fault == "utf8":
        pos = draw(st.integers(body, len(data) - 1))
        data = data[:pos] + b"\xff\xfe" + data[pos:]
    elif fault == "stray_quote":
        pos = draw(st.integers(body, len(data) - 1))
        data = data[:pos] + b'"' + data[pos:]
    elif fault == "truncated":
        data = data[: draw(st.integers(1, len(data) - 1))]
    elif fault == "empty":
        data = b""
    return data, None


PBP_LINES = (samples_dir() / "reliable" / "0021500001.csv").read_text(encoding="utf-8").splitlines()
PBP_HEADER = next(csv.reader(PBP_LINES[:1]))
PBP_ROWS = list(csv.reader(PBP_LINES[1:9]))  # period start, jump ball, both teams' rows, a score
PBP_COLUMNS = ["EVENTNUM", "EVENTMSGTYPE", "EVENTMSGACTIONTYPE", "PERIOD", "PCTIMESTRING", "SCORE", "PERSON1TYPE",
               "PLAYER1_ID", "PLAYER1_TEAM_ID", "PLAYER3_TEAM_ID", "HOMEDESCRIPTION"]


def test_basketball_pbp_csv_refuses_bad_rows_clearly(tmp_path, reliability_log):
    @SETTINGS
    @given(case=csv_files(PBP_HEADER, PBP_ROWS, PBP_COLUMNS))
    def check(case):
        data, ok = case
        path = _write(tmp_path, "0021500001.csv", data)
        try:
            game = read_pbp(path)
            outcome = "read"
        except DataError as err:
            _assert_located(err, path, need_line=False)
            game, outcome = None, "DataError naming file, line and column"
        if ok:
            assert game is not None and game.n_rows == len(PBP_ROWS), "valid play-by-play refused"
        reliability_log.count("bad input", f"basketball play-by-play CSV (read_pbp): {CSV_FAULTS}", outcome)

    check()


TQA_LINES = (samples_dir() / "iteralign" / "truthfulqa_head40.csv").read_text(encoding="utf-8").splitlines()
TQA_HEADER = next(csv.reader(TQA_LINES[:1]))
TQA_ROWS = list(csv.reader(TQA_LINES[1:4]))


def test_iteralign_truthfulqa_csv_refuses_bad_rows_clearly(tmp_path, reliability_log):
    @SETTINGS
    @given(case=csv_files(TQA_HEADER, TQA_ROWS, ["Category", "Question", "Best Answer", "Incorrect Answers"]))
    def check(case):
        data, ok = case
        path = _write(tmp_path, "TruthfulQA.csv", data)
        try:
            items = load_eval_set(EvalSet(str(path), format="truthfulqa_csv", task="truthfulqa_mc1"))
            outcome = "read"
        except DataError as err:
            _assert_located(err, path, need_line=False)
            items, outcome = None, "DataError naming file, line and column"
        if ok:
            assert items is not None and len(items) == len(TQA_ROWS), "valid TruthfulQA rows refused"
        reliability_log.count("bad input", f"IterAlign TruthfulQA CSV (load_eval_set): {CSV_FAULTS}", outcome)

    check()


def test_records_csv_through_datasets_refuses_bad_rows_clearly(tmp_path, reliability_log, monkeypatch):
    """csv files of ``read_records`` (SFT, preference pairs, red-team records) go through ``datasets``/pandas."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    rows = [[f"prompt {i}", f"response {i}"] for i in range(3)]

    @SETTINGS
    @given(case=csv_files(["prompt", "response"], rows, ["prompt", "response"]))
    def check(case):
        data, ok = case
        path = _write(tmp_path, "sft.csv", data)
        out, skipped = _run(lambda e: load_sft_records(str(path), on_error=e), path, need_line=False)
        if ok:
            assert out is not None and len(out) == len(rows), "valid csv refused"
        reliability_log.count("bad input", f"read_records csv (SFT records via datasets): {CSV_FAULTS}",
                              _outcome(out, skipped))

    check()


# ---------------------------------------------------------------- IterAlign BIG-bench tasks
@st.composite
def bigbench_tasks(draw) -> tuple[bytes, bool | None]:
    task = {"name": "t", "examples": [{"input": f"Human: question {i}?",
                                       "target_scores": {"good answer": 1, f"bad answer {i}": 0}} for i in range(3)]}
    fault = draw(st.sampled_from(["valid", "examples", "example", "input", "scores", "score_value", "one_choice",
                                  "tie", "empty_choice", "prefix", "nan", "truncated", "utf8", "huge"]))
    k = draw(st.integers(0, 2))
    w = draw(st.sampled_from(WRONG))
    if fault == "valid":
        return json.dumps(task).encode(), True
    if fault == "examples":
        task["examples"] = w
    elif fault == "example":
        task["examples"][k] = w
    elif fault == "input":
        task["examples"][k]["input"] = w
    elif fault == "scores":
        task["examples"][k]["target_scores"] = w
    elif fault == "score_value":
        task["examples"][k]["target_scores"]["good answer"] = w
    elif fault == "one_choice":
        task["examples"][k]["target_scores"] = {"only": 1}
    elif fault == "tie":
        task["examples"][k]["target_scores"] = {"a": 1, "b": 1}
    elif fault == "empty_choice":
        task["examples"][k]["target_scores"] = {" ": 1, "b": 0}
    elif fault == "prefix":
        task[draw(st.sampled_from(["task_prefix", "example_input_prefix", "example_output_prefix"]))] = w
    elif fault == "nan":
        task["examples"][k]["target_scores"]["good answer"] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    text = json.dumps(task).encode()
    if fault == "truncated":
        text = text[: draw(st.integers(1, len(text) - 1))]
    elif fault == "utf8":
        pos = draw(st.integers(1, len(text) - 1))
        text = text[:pos] + b"\xff\xfe" + text[pos:]
    elif fault == "huge":
        text = text[:-1] + b', "pad": "' + b"x" * 300_000 + b'"}'
    return text, None


def test_iteralign_bigbench_tasks_refuse_bad_files_clearly(tmp_path, reliability_log):
    @SETTINGS
    @given(case=bigbench_tasks())
    def check(case):
        data, ok = case
        path = _write(tmp_path, "harmless.task.json", data)
        try:
            items = load_eval_set(EvalSet(str(path), format="bigbench", task="hhh"))
            outcome = "read"
        except DataError as err:
            _assert_located(err, path, need_line=False)
            items, outcome = None, "DataError naming file, example and field"
        if ok:
            assert items is not None and len(items) == 3, "valid BIG-bench task refused"
        reliability_log.count("bad input", "IterAlign BIG-bench task.json (load_eval_set): wrong-typed examples/"
                              "input/target_scores/prefixes, one choice, tied or NaN/inf scores, empty choice, "
                              "truncated, invalid UTF-8, 300 kB", outcome)

    check()


# ---------------------------------------------------------------- MCQA documents (PubMedQA, BioASQ) and PIQA labels
@st.composite
def mcqa_documents(draw) -> tuple[str, bytes, bool | None]:
    fmt = draw(st.sampled_from(["pubmedqa", "bioasq"]))
    if fmt == "pubmedqa":
        recs = {str(100 + i): {"QUESTION": f"Does {i} help?", "CONTEXTS": [f"context {i}"], "final_decision": "yes"}
                for i in range(3)}
        items, keys = list(recs.values()), ["QUESTION", "CONTEXTS", "final_decision"]
        doc = recs
    else:
        items = [{"id": f"b{i}", "body": f"Is {i} true?", "type": "yesno", "exact_answer": "yes",
                  "snippets": [{"text": f"snippet {i}"}]} for i in range(3)]
        keys, doc = ["body", "type", "exact_answer", "snippets"], {"questions": items}
    fault = draw(st.sampled_from(["valid", "missing", "wrong", "nested_wrong", "repr", "record", "top", "nan",
                                  "truncated", "utf8"]))
    k, key, w = draw(st.integers(0, 2)), draw(st.sampled_from(keys)), draw(st.sampled_from(WRONG))
    if fault == "valid":
        return fmt, json.dumps(doc).encode(), True
    if fault == "missing":
        items[k].pop(key)
    elif fault == "wrong":
        items[k][key] = w
    elif fault == "nested_wrong":
        items[k]["CONTEXTS" if fmt == "pubmedqa" else "snippets"] = [w]
    elif fault == "repr":  # PubMedQA dumps that store the list as its Python repr, sometimes broken
        items[k]["CONTEXTS" if fmt == "pubmedqa" else "snippets"] = draw(st.sampled_from(
            ["['a', 'b']", "[1, 2]", "[", "['a'", "[" * 2000, "[lambda: 1]", "[" + "1," * 50_000 + "]"]))
    elif fault == "record":
        if fmt == "pubmedqa":
            doc["100"] = w
        else:
            items[k] = w
    elif fault == "top":
        doc = draw(st.sampled_from(WRONG + [[1, 2], {"questions": w}]))
    text = json.dumps(doc).encode()
    if fault == "nan":
        text = text.replace(b'"yes"', b"NaN", 1)
    elif fault == "truncated":
        text = text[: draw(st.integers(1, len(text) - 1))]
    elif fault == "utf8":
        pos = draw(st.integers(1, len(text) - 1))
        text = text[:pos] + b"\xff" + text[pos:]
    return fmt, text, None


def test_mcqa_document_formats_refuse_bad_files_clearly(tmp_path, reliability_log):
    @SETTINGS
    @given(case=mcqa_documents())
    def check(case):
        fmt, data, ok = case
        path = _write(tmp_path, f"{fmt}.json", data)
        out, skipped = _run(lambda e: load_mcqa_file(path, fmt, dataset=fmt, on_error=e), path, need_line=False)
        if ok:
            assert out is not None and len(out) == 3, f"valid {fmt} file refused"
        reliability_log.count("bad input", f"MCQA {fmt} json: missing/wrong-typed fields, broken CONTEXTS repr, "
                              "non-object records, NaN, truncated, invalid UTF-8", _outcome(out, skipped))

    check()


def test_mcqa_piqa_labels_refuse_bad_files_clearly(tmp_path, reliability_log):
    @SETTINGS
    @given(lines=jsonl_files("piqa"), labels=st.lists(st.sampled_from(["0", "1", "2", "x", "", "\xff"]), max_size=6))
    def check(lines, labels):
        path = _write(tmp_path, "valid.jsonl", b"\n".join(text for text, _ in lines) + b"\n")
        lab = path.with_name("valid-labels.lst")
        lab.write_bytes("\n".join(labels).encode("utf-8").replace(b"\xc3\xbf", b"\xff"))
        try:
            out = load_mcqa_file(path, "piqa", dataset="piqa", labels=lab)
            outcome = "read"
        except DataError as err:
            assert err.path is not None and (path.name in err.path or lab.name in err.path), str(err)
            assert err.line is not None or err.field is not None, f"DataError names neither line nor field: {err}"
            out, outcome = None, "DataError naming the questions or labels file and the line/field"
        if all(ok for _, ok in lines) and labels == ["0"] * len(lines):
            assert out is not None and len(out) == len(lines), "valid PIQA files refused"
        reliability_log.count("bad input", f"MCQA PIQA jsonl + labels file: {FAULTS}; labels 2/x/blank/invalid "
                              "UTF-8, more or fewer labels than questions", outcome)

    check()


# ---------------------------------------------------------------- entity gazetteer (Gotta cloze, MinPrompt ruler)
@st.composite
def gazetteers(draw) -> tuple[bytes, bool | None]:
    lines = [b"Paris\tGPE", b"France", b"Barack Obama\tPERSON"]
    fault = draw(st.sampled_from(["valid", "blank", "utf8", "huge", "nul", "tabs", "short", "duplicate", "empty",
                                  "crlf"]))
    k = draw(st.integers(0, len(lines) - 1))
    if fault == "valid":
        return b"\n".join(lines) + b"\n", True
    if fault == "blank":
        lines.insert(k, b"   ")
    elif fault == "utf8":
        lines[k] = lines[k][:2] + b"\xff\xfe" + lines[k][2:]
    elif fault == "huge":
        lines[k] = b"x" * 200_000
    elif fault == "nul":
        lines[k] = b"Pa\x00ris"
    elif fault == "tabs":
        lines[k] = b"\t\t\t"
    elif fault == "short":
        lines[k] = b"x"
    elif fault == "duplicate":
        lines.append(lines[k])
    elif fault == "empty":
        lines = []
    elif fault == "crlf":
        return b"\r\n".join(lines) + b"\r\n", True
    return b"\n".join(lines) + b"\n", None


def test_gazetteer_refuses_bad_lines_clearly(tmp_path, reliability_log):
    @SETTINGS
    @given(case=gazetteers(), on_blank=st.sampled_from(["skip", "raise"]))
    def check(case, on_blank):
        data, ok = case
        path = _write(tmp_path, "gazetteer.tsv", data)
        try:
            m = EntityMatcher(path, on_blank=on_blank)
            outcome = "read; blank, too-short and duplicate lines are counted skips"
        except DataError as err:
            _assert_located(err, path, need_line=False)
            m, outcome = None, "DataError naming file, line and field"
        if ok:
            assert m is not None and [t for *_, t in m.find("Paris, France")] == ["GPE", "ENTITY"]
        reliability_log.count("bad input", "entity gazetteer (EntityMatcher / offline NER ruler): blank, invalid "
                              "UTF-8, 200 kB, NUL, tab-only, too short, duplicate lines, empty file, CRLF", outcome)

    check()


# ---------------------------------------------------------------- the crashes the property tests found, pinned
def _pbp_with(col: str, value: str) -> bytes:
    rows = [list(r) for r in PBP_ROWS]
    rows[2][PBP_HEADER.index(col)] = value
    return _csv_bytes(PBP_HEADER, rows)


def _bigbench(**top) -> bytes:
    return json.dumps({"examples": [{"input": "q?", "target_scores": {"a": 1, "b": 0}}], **top}).encode()


REGRESSIONS = {  # name: (file name, bytes, reader, expected line, expected field); before: the exception raised
    # AttributeError ('NoneType' has no attribute 'strip')
    "pbp short row": ("g.csv", _csv_bytes(PBP_HEADER, PBP_ROWS + [PBP_ROWS[3][:6]]), read_pbp, 10, "PCTIMESTRING"),
    # OverflowError (cannot convert float infinity to integer)
    "pbp inf id": ("g.csv", _pbp_with("PERSON1TYPE", "1e400"), read_pbp, 4, "PERSON1TYPE"),
    "pbp nan clock": ("g.csv", _pbp_with("PCTIMESTRING", "1:nan"), read_pbp, 4, "PCTIMESTRING"),  # read as NaN s
    # UnicodeDecodeError
    "pbp utf8": ("g.csv", _pbp_with("HOMEDESCRIPTION", "x").replace(b"x", b"\xff", 1), read_pbp, 4, None),
    # _csv.Error (field larger than field limit)
    "pbp huge cell": ("g.csv", _pbp_with("HOMEDESCRIPTION", "x" * 200_000), read_pbp, 4, None),
    # TypeError (unsupported operand type(s) for +: 'int' and 'str')
    "bigbench prefix": ("t.json", _bigbench(task_prefix=3), lambda p: load_eval_set(EvalSet(str(p))), None,
                        "task_prefix"),
    "bigbench nan score": ("t.json", _bigbench().replace(b'"a": 1', b'"a": NaN'),  # read with a NaN label
                           lambda p: load_eval_set(EvalSet(str(p))), 1, "target_scores"),
    # datasets.DatasetGenerationError (pandas ParserError / UnicodeDecodeError underneath)
    "truthfulqa ragged": ("tq.csv", _csv_bytes(TQA_HEADER, TQA_ROWS[:1] + [TQA_ROWS[1] + ["x", "y"]]),
                          lambda p: load_eval_set(EvalSet(str(p), format="truthfulqa_csv")), 3, None),
    "read_records csv utf8": ("d.csv", b"prompt,response\na,b\nc,\xff\n", lambda p: load_sft_records(str(p)), 3,
                              None),
    # TypeError (expected string or bytes-like object, got 'int')
    "arc_llm_adapters instruction": ("d.jsonl", b'{"instruction": 5, "answer": "answer1"}\n',
                                     lambda p: load_mcqa_file(p, "arc_llm_adapters", dataset="d"), 1, "instruction"),
    # SyntaxError ('[' was never closed) from ast.literal_eval
    "pubmedqa contexts repr": ("p.json", b'{"1": {"QUESTION": "q?", "CONTEXTS": "[1,", "final_decision": "yes"}}',
                               lambda p: load_mcqa_file(p, "pubmedqa", dataset="p"), 1, "CONTEXTS"),
    # TypeError ('int' object is not iterable)
    "bioasq snippets": ("b.json", b'{"questions": [{"body": "b?", "type": "yesno", "exact_answer": "yes", '
                                  b'"snippets": 3}]}', lambda p: load_mcqa_file(p, "bioasq", dataset="b"), 1,
                        "snippets"),
    # UnicodeDecodeError
    "tinyllm json utf8": ("q.json", b'{"question": "\xff?", "choices": ["a", "b"], "answer": "a"}\n{}\n',
                          lambda p: load_mcqa_file(p, "tinyllm", dataset="q"), 1, None),
    # a traces row with an unknown order or attempt was silently never matched / miscounted
    "traces order": ("t.jsonl", b'{"pair_id": "p:1:0", "order": "A", "trace": "t"}\n',
                     lambda p: TraceDistillDataModule(traces_path=str(p), val=[])._read_traces(), 1, "order"),
}


@pytest.mark.parametrize("case", sorted(REGRESSIONS))
def test_former_crashes_are_located_data_errors(case, tmp_path):
    name, data, read, line, field = REGRESSIONS[case]
    path = _write(tmp_path, name, data)
    with pytest.raises(DataError) as e:
        read(path)
    assert e.value.path is not None and path.name in e.value.path, str(e.value)
    assert (e.value.line, e.value.field) == (line, field), str(e.value)


def test_rationale_file_faults_name_the_file_and_position(tmp_path):
    root = tmp_path / "tl"
    (root / "obqa" / "llm").mkdir(parents=True)
    (root / "obqa" / "obqa_train.json").write_text(json.dumps(_valid("tinyllm", 0)) + "\n")  # one record: read
    cot = root / "obqa" / "llm" / "train_CoT_0.json"
    ask = [{"dataset": "obqa", "split": "train", "id": "t0"}]
    cot.write_text(json.dumps([_rationale(0)]))
    assert PreCollectedRationales("t", root=str(root)).collect(ask, {}, None)[0][0].startswith("Because of reason 0")
    for data, line in ((b'["Because', 1),  # json.JSONDecodeError before
                       (json.dumps([_rationale(0), _rationale(1)]).encode(), 2)):  # no file or position before
        cot.write_bytes(data)
        with pytest.raises(DataError) as e:
            PreCollectedRationales("t", root=str(root)).collect(ask, {}, None)
        assert e.value.path.endswith("train_CoT_0.json") and e.value.line == line, str(e.value)
    (root / "obqa" / "llm" / "train_CoT_old.json").write_text("[]")  # IndexError before (name sort key)
    with pytest.raises(DataError, match="train_CoT_old.json"):
        PreCollectedRationales("t", root=str(root)).collect(ask, {}, None)


def test_bad_trace_rows_are_counted_skips_under_skip(tmp_path):
    path = _write(tmp_path, "traces.jsonl", b'{"pair_id": "p:1:0", "order": "chosen_A", "trace": "t"}\n'
                                            b'{"pair_id": "p:2:0", "order": "chosen_B", "trace": "t", "attempt": 7}\n'
                                            b'{"pair_id": "p:3:0", "order": "chosen_A", "tra')
    with pytest.raises(DataError, match="line 2.*attempt"):
        TraceDistillDataModule(traces_path=str(path), val=[])._read_traces()
    got = TraceDistillDataModule(traces_path=str(path), val=[], on_error="skip")._read_traces()
    assert got == {("p:1:0", "chosen_A"): "t"}


@pytest.mark.parametrize("name", ["q.jsonl", "q.json"])  # .json: TinyLLM's JSON-lines release files
def test_unreadable_mcqa_lines_are_counted_skips_under_skip(name, tmp_path):
    good = json.dumps(_valid("tinyllm", 0)).encode()
    path = _write(tmp_path, name, good + b'\n{"question": "Which\xff"}\n' + good[:20] + b"\n" + good + b"\n")
    with pytest.raises(DataError) as e:  # before: raised under skip too (and UnicodeDecodeError for .json)
        load_mcqa_file(path, "tinyllm", dataset="q")
    assert e.value.line == 2 and "UTF-8" in str(e.value)
    assert len(load_mcqa_file(path, "tinyllm", dataset="q", on_error="skip")) == 2
