import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_modules.io import SkipCounter, collate_records, read_records
from lit_agents.fileio import DataError

REQ = {"question": str, "score": float}


def _write(tmp_path, name, text: bytes | str):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def test_jsonl_json_csv_parquet_read_the_same(tmp_path):
    rows = [{"question": "a?", "score": 1.5}, {"question": "b?", "score": 2}]
    jl = _write(tmp_path, "d.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    js = _write(tmp_path, "d.json", json.dumps({"version": 1, "data": rows}))
    csv = _write(tmp_path, "d.csv", "question,score\na?,1.5\nb?,2\n")
    import datasets

    datasets.Dataset.from_list([{"question": "a?", "score": 1.5}, {"question": "b?", "score": 2.0}]).to_parquet(
        str(tmp_path / "d.parquet"))
    for p in (jl, js, csv, tmp_path / "d.parquet"):
        recs = read_records(str(p), required=REQ)
        assert [r["question"] for r in recs] == ["a?", "b?"], p
        assert float(recs[1]["score"]) == 2.0


@pytest.mark.parametrize("line,field,content", [
    (2, "question", '{"question": "ok", "score": 1}\n{"score": 1}\n'),
    (1, "score", '{"question": "q", "score": "high"}\n'),
    (2, None, '{"question": "q", "score": 1}\n{"question": "q", "sco\n'),
    (1, "question", '{"question": "   ", "score": 1}\n'),
    (1, None, '{"question": "q", "score": NaN}\n'),
])
def test_bad_jsonl_names_file_line_and_field(tmp_path, line, field, content):
    p = _write(tmp_path, "bad.jsonl", content)
    with pytest.raises(DataError) as info:
        read_records(str(p), required=REQ)
    err = info.value
    assert err.path == str(p) and err.line == line and err.field == field
    assert f"line {line}" in str(err)


def test_invalid_utf8_is_located(tmp_path):
    p = _write(tmp_path, "bad.jsonl", b'{"question": "ok", "score": 1}\n{"question": "\xff\xfe", "score": 1}\n')
    with pytest.raises(DataError, match="line 2: invalid UTF-8"):
        read_records(str(p), required=REQ)


def test_skip_counts_and_keeps_the_good_records(tmp_path, caplog):
    p = _write(tmp_path, "mixed.jsonl", '{"question": "a", "score": 1}\n{"score": 2}\nnot json\n'
                                        '{"question": "b", "score": 3}\n')
    skips = SkipCounter("qa")
    recs = read_records(str(p), required=REQ, on_error="skip", skips=skips)
    assert [r["question"] for r in recs] == ["a", "b"]
    assert skips.total == 2
    assert "skipped 2 bad" in caplog.text


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_records(str(tmp_path / "nope.jsonl"))
    with pytest.raises(DataError, match="unsupported file type"):
        read_records(str(_write(tmp_path, "x.txt", "hello")))


def test_hub_name_offline_error_suggests_local_file(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataError, match="local json/jsonl"):
        read_records("nobody/no-such-dataset-xyz")


def test_collate_records_is_column_wise():
    assert collate_records([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]) == {"a": [1, 2], "b": ["x", "y"]}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=40), st.text(max_size=40).map(str.encode),
                          st.dictionaries(st.sampled_from(["question", "score", "x"]),
                                          st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=5)),
                                          max_size=3).map(lambda d: json.dumps(d).encode())),
                max_size=6))
def test_malformed_lines_only_raise_located_errors_or_count_skips(tmp_path_factory, lines):
    p = tmp_path_factory.mktemp("h") / "f.jsonl"
    p.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines) + b"\n")
    try:
        recs = read_records(str(p), required=REQ)
    except DataError as e:
        assert e.path == str(p) and e.line is not None
    else:
        assert all(isinstance(r["question"], str) for r in recs)
    skips = SkipCounter("x")
    kept = read_records(str(p), required=REQ, on_error="skip", skips=skips)
    non_blank = sum(1 for line in lines if line.replace(b"\n", b" ").strip())
    assert len(kept) + skips.total == non_blank


def test_gzipped_jsonl(tmp_path):
    import gzip

    p = tmp_path / "d.jsonl.gz"
    with gzip.open(p, "wt") as f:
        f.write('{"question": "a?", "score": 1}\n{"question": "b?"}\n')
    with pytest.raises(DataError, match=r"line 2.*'score'"):
        read_records(str(p), required=REQ)


def test_load_prompt_by_name_and_missing():
    from lit_agents.prompts import PROMPTS_DIR, load_prompt

    names = sorted(p.stem for p in PROMPTS_DIR.glob("*.txt"))
    if names:
        assert load_prompt(names[0]) == (PROMPTS_DIR / f"{names[0]}.txt").read_text()
    with pytest.raises(FileNotFoundError, match="bundled prompts"):
        load_prompt("no_such_prompt_xyz")


def test_atomic_path_replaces_whole_or_not_at_all(tmp_path):
    from lit_agents.fileio import atomic_path, atomic_write_text

    target = tmp_path / "report.md"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.suffix == ".md" and tmp.parent == tmp_path  # same directory and suffix (savefig)
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.md"]
    atomic_write_text(target, "new")
    assert target.read_text() == "new" and len(list(tmp_path.iterdir())) == 1
