"""The bottom layer: located data errors and crash-safe file handling, shared by every package above.

Standard library only, so that core utilities (generation, checkpoints, prompts, tools) and ``data_modules``
can both use it without importing each other: the import graph is core utilities <- data_modules <- methods.
"""
from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


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
