"""Read records from json / jsonl / csv / parquet files or a hub dataset, with errors that say where.

jsonl is parsed line by line here (not through ``datasets``) so that a malformed line is reported with its
1-based line number; json, csv and parquet go through ``datasets`` / pandas-free loaders of ``datasets``.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import math
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]


class DataError(ValueError):
    """Bad input, located: which file, which line (or record) and which field."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None,
                 field: str | None = None):
        self.path, self.line, self.field = (str(path) if path is not None else None), line, field
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")


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


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Write a file atomically: yields a temporary path beside ``path`` (same suffix, so writers that pick a
    format by it, like ``savefig``, still work); on a clean exit it is fsynced and moved over ``path`` with
    ``os.replace`` (atomic within one filesystem), on an error it is removed. A process killed mid-write leaves
    the previous file whole (and at most a stray ``.<name>.*.tmp<suffix>``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def content_sha256(path: str | os.PathLike) -> str | None:
    """SHA-256 of a file's bytes, or of a directory's files (relative names and contents, sorted): what a
    cache keyed on data must hash, rather than the path. None when nothing is there (e.g. a hub name)."""
    import hashlib

    p = Path(path)
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else []
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(p) if f != p else "").encode() + b"\0")
        with open(f, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    return h.hexdigest()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """``Path(path).write_text(text)``, atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def repair_jsonl_tail(path: str | os.PathLike) -> bytes:
    """Repair an append-only JSONL file a process was killed while appending to, and return its content.

    A torn last line (no newline and not valid JSON) is cut off, so the record is written again by the next
    run; a last line that is complete JSON but lacks its newline gets the newline."""
    path = Path(path)
    if not path.is_file():
        return b""
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return data
    keep = data.rfind(b"\n") + 1
    try:
        json.loads(data[keep:].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        log.warning("%s: dropping a torn last record (%d bytes, a run was interrupted while writing it); it will "
                    "be written again", path, len(data) - keep)
        with open(path, "r+b") as f:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        return data[:keep]
    with open(path, "ab") as f:
        f.write(b"\n")
    return data + b"\n"


def resolve_inside(base: str | Path, relative: str | Path, *, path: str | Path | None = None,
                   line: int | None = None, field: str | None = None) -> Path:
    """``base / relative`` for a file name read from a data file (a manifest entry, an archive member, an id
    that names a file), refused unless it stays inside ``base``.

    Absolute names, ``..`` that climb out and symlinks (anywhere on the way) that point outside ``base`` raise
    :class:`DataError` naming the data file ``path``, its ``line``/record and ``field``. Returns the joined
    (unresolved) path, so valid names behave exactly as before.
    """
    rel = str(relative)
    if not rel.strip() or "\x00" in rel:
        raise DataError(f"invalid file name {rel!r}", path=path, line=line, field=field)
    if Path(rel).is_absolute() or rel.startswith(("/", "\\")) or Path(rel).drive:
        raise DataError(f"absolute path {rel!r} is not allowed here; file names must stay inside {base}",
                        path=path, line=line, field=field)
    joined = Path(base) / rel
    root = Path(base).resolve()
    target = joined.resolve()
    if target == root or not target.is_relative_to(root):
        raise DataError(f"file name {rel!r} escapes {base} (resolves to {target})", path=path, line=line,
                        field=field)
    return joined


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


def parse_json_line(raw: bytes, path: str | os.PathLike, line: int) -> Any:
    """One JSON-lines record, or the DataError (naming file and line) saying why it is not one: returned, not
    raised, so that a reader can raise it or count it as a skip."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as e:
        return DataError(f"invalid UTF-8 ({e.reason} at byte {e.start})", path=path, line=line)
    except ValueError as e:  # JSONDecodeError, or a NaN/Infinity constant
        return DataError(f"malformed JSON ({e})", path=path, line=line)


def _reject_constant(name: str):
    raise ValueError(f"non-finite number {name} is not valid JSON")


def _constant_line(text: str) -> int | None:
    """The line of the first bare ``NaN``/``Infinity`` (outside a string) in JSON text, for the error message."""
    for i, ln in enumerate(text.split("\n"), start=1):
        for m in re.finditer(r"\b(NaN|Infinity)\b", ln):
            if re.sub(r"\\.", "", ln[: m.start()]).count('"') % 2 == 0:
                return i
    return None


def decode_utf8(raw: bytes, path: str | os.PathLike) -> str:
    """``raw`` (the bytes of the data file ``path``) as UTF-8 text; an undecodable byte is a DataError naming
    its line."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"invalid UTF-8 ({e.reason} at byte {e.start})", path=path,
                        line=raw[: e.start].count(b"\n") + 1) from None


def read_utf8(path: str | os.PathLike) -> str:
    """A whole data file as UTF-8 text; an unreadable file or an undecodable byte is a located DataError."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise DataError(f"cannot read file ({e})", path=path) from None
    return decode_utf8(raw, path)


def load_json_document(path: str | os.PathLike) -> Any:
    """One JSON document (bare NaN/Infinity refused: not JSON); errors are DataErrors naming file and line."""
    text = read_utf8(path)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise DataError(f"malformed JSON ({e})", path=path, line=e.lineno) from None
    except ValueError as e:  # a NaN/Infinity constant
        raise DataError(f"malformed JSON ({e})", path=path, line=_constant_line(text)) from None


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
