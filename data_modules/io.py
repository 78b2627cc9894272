"""Read records from json / jsonl / csv / parquet files or a hub dataset, with errors that say where.

jsonl is parsed line by line here (not through ``datasets``) so that a malformed line is reported with its
1-based line number; json, csv and parquet go through ``datasets`` / pandas-free loaders of ``datasets``.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from lit_agents.fileio import DataError, load_json_document, parse_json_line, read_utf8

log = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]


class SkipCounter:
    """Counts records dropped under ``on_error='skip'`` and why, and logs a summary."""

    def __init__(self, name: str):
        self.name, self.reasons = name, Counter()

    def add(self, err: DataError) -> None:
        self.reasons[f"{err.field or 'record'}: {str(err).split(': ')[-1]}"] += 1

    @contextmanager
    def guard(self, on_error: str) -> Iterator[None]:
        """``with skips.guard(on_error): <read one record>``: a DataError inside is re-raised under
        ``on_error="raise"`` and counted as a skip under ``"skip"``."""
        try:
            yield
        except DataError as err:
            if on_error == "raise":
                raise
            self.add(err)

    @property
    def total(self) -> int:
        return sum(self.reasons.values())

    def report(self, source: str) -> None:
        if self.total:
            log.warning("%s: skipped %d bad %s (%s)", source, self.total, self.name,
                        "; ".join(f"{k} x{v}" for k, v in self.reasons.most_common()))


def samples_dir() -> Path:
    """The small bundled datasets shipped inside the package (``data_modules/samples``)."""
    return Path(__file__).parent / "samples"


def shared_data_dir() -> Path | None:
    """``../shared/data`` next to a source checkout, when present (tests and examples use it)."""
    p = Path(__file__).resolve().parents[2] / "shared" / "data"
    return p if p.is_dir() else None


def _type_name(t: type | tuple[type, ...]) -> str:
    return " or ".join(x.__name__ for x in (t if isinstance(t, tuple) else (t,)))


def validate_record(rec: Any, required: Mapping[str, type | tuple[type, ...]] | None, *, path: str | Path,
                    line: int) -> dict:
    """Check that ``rec`` is an object with every required field of the right type (NaN/inf refused)."""
    if not isinstance(rec, dict):
        raise DataError(f"expected a JSON object, got {type(rec).__name__}", path=path, line=line)
    for key, typ in (required or {}).items():
        if key not in rec or rec[key] is None:
            raise DataError("missing required field", path=path, line=line, field=key)
        val = rec[key]
        ok_types = typ if isinstance(typ, tuple) else (typ,)
        if float in ok_types and int not in ok_types and isinstance(val, int) and not isinstance(val, bool):
            val = float(val)
        if isinstance(val, bool) and bool not in ok_types:
            raise DataError(f"expected {_type_name(typ)}, got bool", path=path, line=line, field=key)
        if not isinstance(val, ok_types):
            raise DataError(f"expected {_type_name(typ)}, got {type(val).__name__}", path=path, line=line, field=key)
        if isinstance(val, float) and not math.isfinite(val):
            raise DataError(f"non-finite number {val!r}", path=path, line=line, field=key)
        if isinstance(val, str) and not val.strip():
            raise DataError("empty string", path=path, line=line, field=key)
    return rec


def _read_jsonl(path: Path):
    import gzip

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as f:
        for i, raw in enumerate(f, start=1):
            if raw.strip():
                yield i, parse_json_line(raw, path, i)


def iter_csv_rows(path: str | os.PathLike, required_columns: Iterable[str]) -> Iterator[tuple[int, dict]]:
    """``(line, row)`` of a UTF-8 CSV with a header line, ``line`` being the row's first line; cells stay text
    (no type or NA guessing: an answer ``None`` or ``42`` is text). A header without ``required_columns``, a row
    with more fields than the header and the csv module's own errors (a field over its size limit) are
    DataErrors naming the file and line (and column)."""
    text = read_utf8(path).removeprefix("\ufeff")  # a byte-order mark is not part of the first column
    fetched = [0]  # lines handed to the csv reader, so that a row spanning lines is named by its first

    def lines():
        for ln in io.StringIO(text, newline=""):
            fetched[0] += 1
            yield ln

    reader = csv.DictReader(lines())
    try:
        header = reader.fieldnames or []
        missing = [c for c in required_columns if c not in header]
        if missing:
            raise DataError(f"missing columns {missing} (header: {header})", path=path, line=1, field=missing[0])
        start = fetched[0] + 1
        for row in reader:
            if any(x.strip() for x in row.get(None) or []):
                raise DataError(f"{len(header) + len(row[None])} fields, the header has {len(header)}", path=path,
                                line=start)
            yield start, row
            start = fetched[0] + 1
    except csv.Error as e:
        raise DataError(f"malformed CSV ({e})", path=path, line=fetched[0]) from None


def _read_json(path: Path):
    data = load_json_document(path)
    if isinstance(data, dict):  # {"data": [...]} or {"version":..., "data": [...]} style
        lists = [k for k, v in data.items() if isinstance(v, list)]
        if len(lists) != 1:
            raise DataError("expected a list of records or an object with exactly one list field", path=path,
                            line=1)
        data = data[lists[0]]
    if not isinstance(data, list):
        raise DataError(f"expected a list of records, got {type(data).__name__}", path=path, line=1)
    yield from enumerate(data, start=1)


def _read_tabular(path: Path, fmt: str):
    """csv / parquet through `datasets`; csv records are numbered by file line (header = line 1)."""
    import datasets

    try:
        ds = datasets.load_dataset(fmt, data_files=str(path), split="train")
    except Exception as e:  # noqa: BLE001 - datasets wraps pandas/pyarrow errors in many types; located here
        raise _tabular_error(path, fmt, e) from e
    offset = 2 if fmt == "csv" else 1
    for i, rec in enumerate(ds):
        yield i + offset, rec


def _tabular_error(path: Path, fmt: str, err: Exception) -> DataError:
    """A DataError naming the file (and the line where it can be told) for a csv/parquet ``datasets`` failure."""
    cause = err
    for _ in range(10):  # the root cause (pandas / pyarrow / codec error) under datasets' wrapper
        nxt = cause.__cause__ or cause.__context__
        if nxt is None:
            break
        cause = nxt
    text = f"{type(cause).__name__}: {cause}".strip()
    if fmt == "csv" and (isinstance(cause, UnicodeDecodeError) or "utf8" in text.lower().replace("-", "")):
        decoder = codecs.getincrementaldecoder("utf-8")()
        with open(path, "rb") as f:  # only on this error path: the line of the first undecodable byte
            for line, raw in enumerate(f, start=1):
                try:
                    decoder.decode(raw)
                except UnicodeDecodeError as e:
                    return DataError(f"invalid UTF-8 ({e.reason})", path=path, line=line)
    if "corresponds to no data" in text or "No columns to parse" in text:
        return DataError(f"no records found (an empty {fmt} file or a header only)", path=path)
    line = None
    if fmt == "csv":
        m = re.search(r"\bline (\d+)", text)
        if m:
            line = int(m.group(1))
        elif "EOF inside string" in text:  # an unclosed quote (a truncated file?) runs to the end of the file
            with open(path, "rb") as f:
                line = sum(1 for _ in f)
    return DataError(f"malformed {fmt} ({text})", path=path, line=line)


def _read_hub(name: str, split: str | None):
    import datasets

    try:
        ds = datasets.load_dataset(name, split=split or "train")
    except Exception as e:  # noqa: BLE001 - datasets raises many types; we re-raise with context
        raise DataError(f"could not load hub dataset ({type(e).__name__}: {e}); with no network, point the "
                        "config at a local json/jsonl/csv/parquet file", path=name) from e
    yield from enumerate(ds, start=1)


def iter_raw(source: str | Path, *, split: str | None = None):
    """Yield ``(line_or_record_number, record_or_DataError)`` from a file or hub dataset name."""
    path = Path(source)
    suffix = path.suffix.lower()
    if path.exists():
        if suffix == ".jsonl" or path.name.lower().endswith(".jsonl.gz"):
            yield from _read_jsonl(path)
        elif suffix == ".json":
            yield from _read_json(path)
        elif suffix in (".csv", ".parquet"):
            yield from _read_tabular(path, suffix[1:])
        else:
            raise DataError(f"unsupported file type {suffix!r} (json, jsonl, jsonl.gz, csv, parquet)", path=path)
    elif (suffix in (".json", ".jsonl", ".csv", ".parquet", ".gz") or "/" not in str(source).strip("/")
          or path.is_absolute()):
        raise DataError("file not found", path=path)
    else:
        yield from _read_hub(str(source), split)


def read_records(source: str | Path, *, split: str | None = None,
                 required: Mapping[str, type | tuple[type, ...]] | None = None, on_error: OnError = "raise",
                 name: str = "records", skips: SkipCounter | None = None,
                 transform: Callable[[dict, str, int], dict] | None = None) -> list[dict]:
    """Read and validate every record of ``source``.

    Under ``on_error="raise"`` the first bad record raises :class:`DataError` naming the file, line and field;
    under ``"skip"`` bad records are dropped, counted (in ``skips`` when given) and the count is logged.
    ``transform(record, path, line)`` normalises each valid record and may itself raise :class:`DataError`.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    skipped = skips if skips is not None else SkipCounter(name)
    out: list[dict] = []
    for line, rec in iter_raw(source, split=split):
        with skipped.guard(on_error):
            if isinstance(rec, DataError):
                raise rec
            rec = validate_record(rec, required, path=source, line=line)
            try:
                out.append(transform(rec, str(source), line) if transform is not None else rec)
            except (KeyError, TypeError, AttributeError, IndexError, ValueError) as err:
                if isinstance(err, DataError):
                    raise
                # a transform that did not foresee this malformation: still a located, skippable DataError
                field = str(err.args[0]) if isinstance(err, KeyError) and err.args else None
                raise DataError(f"malformed record ({type(err).__name__}: {err})", path=source, line=line,
                                field=field) from err
    skipped.report(str(source))
    return out


def collate_records(records: list[dict]) -> dict[str, list]:
    """Column-wise batch of text/number records: ``[{a: 1}, {a: 2}] -> {a: [1, 2]}``."""
    keys = list(records[0].keys()) if records else []
    return {k: [r.get(k) for r in records] for k in keys}


def check_loader_args(batch_size: int, num_workers: int = 0) -> None:
    """Refuse impossible DataLoader settings at start-up, naming the config key."""
    if batch_size < 1:
        raise ValueError(f"data.batch_size must be >= 1, got {batch_size}")
    if num_workers < 0:
        raise ValueError(f"data.num_workers must be >= 0, got {num_workers}")
