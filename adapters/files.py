"""Canonical events from JSONL or CSV files, streamed in constant memory.

A page's cursor is the byte offset after its last line, with a fingerprint of the file's
head: a pull resumes there while the file only grows, and starts over (the ledger dedupes)
when the file was replaced. A backfill (``pull_range``) reads the file the same way from
its own checkpoint and keeps the events of its range.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Literal, cast

import orjson

from connector.errors import ConfigError, InputFileError, RejectedRecordError
from connector.ingest.canonical import loads_exact, to_event
from connector.model import Event
from connector.ports import (
    EventSource,
    Page,
    RejectedInput,
    SourceAdapter,
    SourceContext,
    SourceSettings,
    settings_of,
)

__all__ = ["FileSource", "detect_format"]

FileFormat = Literal["jsonl", "csv"]
_HEAD_BYTES = 4096
_BOM = b"\xef\xbb\xbf"
_MAX_RAW_CHARS = 2_000
# The block git reads to tell text from binary; more than this share of it not text
# (random bytes: about 60 %, UTF-16: 50 %, Latin-1 prose: a few %) is not a text file.
_SNIFF_BYTES = 8_000
_MOST_NOT_TEXT = 0.3
_CONTROL_CHARS = frozenset(chr(code) for code in range(32)) - set("\t\n\r\f\v")
_CSV_DIRECT = {"source", "id", "kind", "occurred_at", "email", "url"}
_CSV_REQUIRED = ("kind", "occurred_at")
_CSV_GROUPS = {
    "ids.": "ids",
    "attributes.": "attributes",
    "attr.": "attributes",
    "profile.": "profile",
}


def detect_format(path: Path, configured: str = "auto") -> FileFormat:
    if configured in ("jsonl", "csv"):
        return cast("FileFormat", configured)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise InputFileError(
        f"cannot tell the format from the extension {suffix!r}",
        file=str(path),
        hint="name it .jsonl or .csv, or pass --format jsonl|csv",
    )


@dataclass(frozen=True, slots=True)
class _Cursor:
    offset: int
    line: int
    head: str  # hash of the file's first head_bytes bytes
    head_bytes: int

    def dump(self) -> str:
        return orjson.dumps(
            {
                "offset": self.offset,
                "line": self.line,
                "head": self.head,
                "head_bytes": self.head_bytes,
            }
        ).decode()

    @staticmethod
    def load(text: str | None) -> _Cursor | None:
        if not text:
            return None
        try:
            data = orjson.loads(text)
            return _Cursor(
                int(data["offset"]), int(data["line"]), str(data["head"]), int(data["head_bytes"])
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


def _fingerprint(stream: BinaryIO, length: int) -> str:
    stream.seek(0)
    return hashlib.blake2b(stream.read(length), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class _Fingerprint:
    digest: str
    length: int

    def cursor(self, offset: int, line: int) -> str:
        return _Cursor(offset, line, self.digest, self.length).dump()


def _raw_text(line: bytes) -> str:
    return line[:_MAX_RAW_CHARS].decode("utf-8", "replace").rstrip("\r\n")


def _undecodable_reason(line: bytes) -> str | None:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"bad encoding: not UTF-8 (byte 0x{line[exc.start]:02x} at column {exc.start + 1})"
    return None


class FileSource:
    """An ``EventSource`` over one JSONL or CSV file."""

    # Plain attributes only: it pickles, so a large file can be read in a child process.
    subprocess_safe = True

    def __init__(
        self,
        name: str,
        path: Path,
        *,
        file_format: str = "auto",
        max_line_bytes: int = 1_048_576,
        page_size: int = 20_000,
    ) -> None:
        self.name = name
        # One file, one location: the same file reached by two paths (a relative one, one
        # through ..) keeps one reject per bad line, and the location reads from anywhere.
        self.path = path.resolve()
        self.format = detect_format(path, file_format)
        self.max_line_bytes = max_line_bytes
        self.page_size = page_size

    def _open(self) -> BinaryIO:
        try:
            return self.path.open("rb")
        except FileNotFoundError:
            raise InputFileError(
                "file not found", file=str(self.path), hint="check the path"
            ) from None
        except IsADirectoryError:
            raise InputFileError("is a folder, not a file", file=str(self.path)) from None
        except OSError as exc:
            raise InputFileError(f"cannot be read ({exc.strerror})", file=str(self.path)) from None

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def lag(self, cursor: str | None) -> str:
        """The bytes after the cursor's offset, without reading the file."""
        try:
            size = self.path.stat().st_size
        except OSError:
            return "file missing"
        start = _Cursor.load(cursor)
        if start is None:
            return f"{size:,} bytes unread (never pulled)"
        if start.offset > size:
            return "the file is shorter than what was read: the next pull reads it again"
        left = size - start.offset
        return "caught up" if left == 0 else f"{left:,} bytes unread"

    def pull(self, cursor: str | None) -> Iterator[Page]:
        with self._open() as stream:
            # The fingerprint covers the same bytes the cursor's did, so a file that only
            # grew (even a small one) keeps its cursor, and a replaced one loses it.
            start = _Cursor.load(cursor)
            if start is not None and (
                start.offset > self.size() or _fingerprint(stream, start.head_bytes) != start.head
            ):
                start = None  # the file was replaced: read it all again, the ledger dedupes
            head_bytes = min(_HEAD_BYTES, self.size())
            head = _Fingerprint(_fingerprint(stream, head_bytes), head_bytes)
            stream.seek(0)
            if stream.read(len(_BOM)) != _BOM:  # spreadsheets write one before UTF-8 text
                stream.seek(0)
            self._refuse_binary(stream)
            if self.format == "jsonl":
                yield from self._pull_jsonl(stream, head, start)
            else:
                yield from self._pull_csv(stream, head, start)

    def pull_range(
        self, since: datetime, until: datetime | None, cursor: str | None
    ) -> Iterator[Page]:
        """The pages of ``pull``, keeping the events with ``since <= occurred_at < until``.

        A file is not sorted by time, so the whole of it is read; the events outside the
        range are counted as skipped, while a bad line is a reject wherever it stands
        (the regular pull sets it aside the same way, once: rejects are deduped).
        """
        for page in self.pull(cursor):
            yield _in_range(page, since, until)

    def _refuse_binary(self, stream: BinaryIO) -> None:
        """Refuse a file whose first block is mostly not text, as ``file`` and git judge it.

        A share, not a single NUL or bad byte: a text file with one bad line must still
        give one reject, while an image or an archive would give thousands of them.
        """
        start = stream.tell()
        block = stream.read(_SNIFF_BYTES)
        stream.seek(start)
        # A character cut at the end of the block is not held against the file.
        text = codecs.getincrementaldecoder("utf-8")("replace").decode(block, final=False)
        if not text:
            return
        not_text = sum(1 for char in text if char == "\ufffd" or char in _CONTROL_CHARS)
        if not_text > len(text) * _MOST_NOT_TEXT:
            raise InputFileError(
                f"not a text file: {not_text:,} of the first {len(text):,} characters are "
                "NUL, control or not UTF-8",
                file=str(self.path),
                hint="give a JSONL or CSV file in UTF-8 (re-save it as UTF-8 if it is text "
                "in another encoding)",
            )

    # -- reading lines ---------------------------------------------------------------

    def _lines(self, stream: BinaryIO, first_line: int) -> Iterator[tuple[int, bytes | None, int]]:
        """(line number, the line or None if oversized, offset after it)."""
        number = first_line
        limit = self.max_line_bytes
        offset = stream.tell()
        while True:
            line = stream.readline(limit + 1)
            if not line:
                return
            number += 1
            offset += len(line)
            if len(line) > limit and not line.endswith(b"\n"):
                # Oversized: skip the rest of it in bounded chunks.
                while True:
                    rest = stream.readline(1 << 20)
                    offset += len(rest)
                    if not rest or rest.endswith(b"\n"):
                        break
                yield number, None, offset
                continue
            yield number, line, offset

    def _reject(self, line: int, reason: str, raw: bytes) -> RejectedInput:
        return RejectedInput(self.name, str(self.path), line, reason, _raw_text(raw))

    def _oversized(self, line: int) -> RejectedInput:
        return RejectedInput(
            self.name,
            str(self.path),
            line,
            f"oversized line: longer than {self.max_line_bytes} bytes "
            "(raise [ingest] max_line_bytes if this is expected)",
            "",
        )

    # -- JSONL ----------------------------------------------------------------------

    def _pull_jsonl(
        self, stream: BinaryIO, head: _Fingerprint, start: _Cursor | None
    ) -> Iterator[Page]:
        first_line = 0
        if start is not None:
            stream.seek(start.offset)
            first_line = start.line
        events: list[Event] = []
        rejects: list[RejectedInput] = []
        page_start = stream.tell()
        offset = page_start
        number = first_line
        loads = loads_exact
        source = self.name
        origin = str(self.path)
        lines: list[int] = []
        for number, line, offset in self._lines(stream, first_line):
            if line is None:
                rejects.append(self._oversized(number))
                continue
            if line.isspace():
                continue
            try:
                record = loads(line)
            except orjson.JSONDecodeError as exc:
                reason = _undecodable_reason(line) or f"broken JSON: {exc}"
                rejects.append(self._reject(number, reason, line))
                continue
            if not isinstance(record, dict):
                rejects.append(
                    self._reject(
                        number,
                        f"line is not a JSON object (got {type(record).__name__})",
                        line,
                    )
                )
                continue
            try:
                events.append(to_event(record, default_source=source))
                lines.append(number)
            except RejectedRecordError as exc:
                rejects.append(self._reject(number, exc.reason, line))
            if len(events) + len(rejects) >= self.page_size:
                cursor = head.cursor(offset, number)
                yield Page(events, rejects, cursor, offset - page_start, origin, lines)
                events, rejects, lines, page_start = [], [], [], offset
        if events or rejects or offset != page_start or start is None:
            cursor = head.cursor(offset, number)
            yield Page(events, rejects, cursor, offset - page_start, origin, lines)

    # -- CSV ------------------------------------------------------------------------

    def _csv_columns(self, header: list[str], line: int) -> list[tuple[str | None, str]]:
        columns: list[tuple[str | None, str]] = []
        for name in header:
            name = name.strip()
            if name in _CSV_DIRECT:
                columns.append((None, name))
                continue
            for prefix, group in _CSV_GROUPS.items():
                if name.startswith(prefix) and len(name) > len(prefix):
                    columns.append((group, name[len(prefix) :]))
                    break
            else:
                raise InputFileError(
                    f"line {line}: unknown column {name!r}",
                    file=str(self.path),
                    hint="use source, id, kind, occurred_at, email, url, "
                    "ids.NAME, attributes.NAME or profile.NAME",
                )
        self._require_columns(columns, line)
        return columns

    def _require_columns(self, columns: list[tuple[str | None, str]], line: int) -> None:
        """Refuse a header without a column every row needs: each row would be set aside
        for the same reason, which says less than one error about the header."""
        names = {name for group, name in columns if group is None}
        missing = [name for name in _CSV_REQUIRED if name not in names]
        if "email" not in names and not any(group == "ids" for group, _ in columns):
            missing.append("email or ids.NAME")
        if missing:
            raise InputFileError(
                f"line {line}: the header lacks the required column(s) {'; '.join(missing)}",
                file=str(self.path),
                hint="every row needs kind, occurred_at and email or ids.NAME: add the column",
            )

    @staticmethod
    def _csv_record(columns: list[tuple[str | None, str]], row: list[str]) -> dict[str, object]:
        record: dict[str, object] = {}
        groups: dict[str, dict[str, object]] = {}
        for (group, name), value in zip(columns, row, strict=True):
            if value == "":
                continue
            if group is None:
                record[name] = value
                continue
            # CSV has no booleans; "true"/"false" mean them so that flags such as
            # attributes.strong work as in JSON.
            lowered = value.lower()
            typed: object = True if lowered == "true" else False if lowered == "false" else value
            groups.setdefault(group, {})[name] = typed
        record.update(groups)
        return record

    def _pull_csv(
        self, stream: BinaryIO, head: _Fingerprint, start: _Cursor | None
    ) -> Iterator[Page]:
        bad_lines: dict[int, str] = {}
        position = _CsvPosition()

        def text_lines(lines: Iterator[tuple[int, bytes | None, int]]) -> Iterator[str]:
            position.at_end = False
            for number, line, offset in lines:
                position.line, position.offset = number, offset
                if position.row_first is None:
                    position.row_first = (number, line, offset)
                if line is None:
                    bad_lines[number] = "oversized"
                    yield "\n"
                    continue
                reason = _undecodable_reason(line)
                if reason is not None:
                    bad_lines[number] = reason
                yield line.decode("utf-8", "replace")
            position.at_end = True

        def rows_from(first_line: int) -> Iterator[list[str]]:
            return csv.reader(text_lines(self._lines(stream, first_line)), strict=True)

        header_reader = rows_from(0)
        try:
            header = next(header_reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputFileError(
                f"line 1: broken CSV header ({exc})", file=str(self.path)
            ) from None
        columns = self._csv_columns(header, 1)
        if start is not None:
            stream.seek(start.offset)
            first_line = start.line
        else:
            first_line = position.line
        # Process-wide setting: only ever raised, so other CSV readers keep theirs.
        csv.field_size_limit(max(csv.field_size_limit(), self.max_line_bytes))
        reader = rows_from(first_line)
        events: list[Event] = []
        rejects: list[RejectedInput] = []
        page_start = position.offset if start is None else start.offset
        source = self.name
        origin = str(self.path)
        lines: list[int] = []
        while True:
            row_first_line = position.line + 1
            position.row_first = None
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                first = position.row_first
                if first is None:  # pragma: no cover - the reader read no line to fail on
                    raise
                rejects.append(self._broken_csv_row(first, position, exc, bad_lines))
                if position.line > first[0]:
                    # The row swallowed the lines below its first: read them again, as
                    # rows of their own, from just after it.
                    for number in [number for number in bad_lines if number > first[0]]:
                        del bad_lines[number]
                    stream.seek(first[2])
                    position.line, position.offset = first[0], first[2]
                    reader = rows_from(first[0])
            else:
                row_last_line = position.line
                problem = next(
                    (
                        bad_lines.pop(n)
                        for n in range(row_first_line, row_last_line + 1)
                        if n in bad_lines
                    ),
                    None,
                )
                raw = ",".join(row)[:_MAX_RAW_CHARS]
                if problem == "oversized":
                    rejects.append(self._oversized(row_first_line))
                elif problem is not None:
                    rejects.append(
                        RejectedInput(source, str(self.path), row_first_line, problem, raw)
                    )
                elif not row or row == [""]:
                    continue
                elif len(row) != len(columns):
                    rejects.append(
                        RejectedInput(
                            source,
                            str(self.path),
                            row_first_line,
                            f"broken CSV row: {len(row)} fields, the header has {len(columns)}",
                            raw,
                        )
                    )
                else:
                    try:
                        events.append(
                            to_event(self._csv_record(columns, row), default_source=source)
                        )
                        lines.append(row_first_line)
                    except RejectedRecordError as exc:
                        rejects.append(
                            RejectedInput(source, str(self.path), row_first_line, exc.reason, raw)
                        )
            if len(events) + len(rejects) >= self.page_size:
                offset = position.offset
                cursor = head.cursor(offset, position.line)
                yield Page(events, rejects, cursor, offset - page_start, origin, lines)
                events, rejects, lines, page_start = [], [], [], offset
        offset = position.offset
        cursor = head.cursor(offset, position.line)
        yield Page(events, rejects, cursor, offset - page_start, origin, lines)

    def _broken_csv_row(
        self,
        first: tuple[int, bytes | None, int],
        position: _CsvPosition,
        exc: csv.Error,
        bad_lines: dict[int, str],
    ) -> RejectedInput:
        """The reject for a row the CSV reader failed on, set aside as its first line."""
        number, line, _ = first
        problem = bad_lines.pop(number, None)
        if line is None or problem == "oversized":
            return self._oversized(number)
        if problem is not None:
            reason = problem
        elif position.line > number or position.at_end:
            # Only an open quote carries a row past its line or to the end of the file.
            where = (
                "to the end of the file"
                if position.at_end
                else f"into line {position.line}, where reading it fails ({exc})"
            )
            reason = (
                f"unterminated quote: the quoted field that opens on this line runs on {where}; "
                'close the quote, or double each quote inside the field ("")'
            )
        else:
            reason = f"broken CSV row: {exc}"
        return self._reject(number, reason, line)


def _in_range(page: Page, since: datetime, until: datetime | None) -> Page:
    kept = [
        index
        for index, event in enumerate(page.events)
        if event.occurred_at >= since and (until is None or event.occurred_at < until)
    ]
    if len(kept) == len(page.events):
        return page
    lines = page.lines
    return Page(
        [page.events[index] for index in kept],
        page.rejects,
        page.cursor,
        page.bytes_read,
        page.origin,
        None if lines is None else [lines[index] for index in kept],
        skipped=page.skipped + len(page.events) - len(kept),
    )


@dataclass(slots=True)
class _CsvPosition:
    """Where the CSV reader stands, updated as it takes each line."""

    line: int = 0  # the last line read
    offset: int = 0  # the byte offset after it
    # The first line of the row being read: its number, its bytes (None if oversized) and
    # the offset after it, so a row that swallowed the lines below can be read again.
    row_first: tuple[int, bytes | None, int] | None = None
    at_end: bool = False  # the reader has taken the file's last line


# -- the declaration: [sources.NAME] type = "file" -----------------------------------------


class FileSourceSettings(SourceSettings):
    """``[sources.NAME] type = "file"``: a JSONL or CSV file of canonical events."""

    type: Literal["file"]
    path: Path
    format: Literal["auto", "jsonl", "csv"] = "auto"


def _source(settings: SourceSettings, context: SourceContext) -> EventSource:
    own = settings_of(settings, FileSourceSettings)
    return FileSource(
        context.name,
        context.resolve(own.path),
        file_format=own.format,
        max_line_bytes=context.max_line_bytes,
        page_size=context.page_size,
    )


def _check(settings: SourceSettings, context: SourceContext) -> str:
    own = settings_of(settings, FileSourceSettings)
    if not context.resolve(own.path).is_file():
        raise ConfigError(
            f"[sources.{context.name}] path {str(own.path)!r} does not exist",
            key=f"sources.{context.name}",
            hint="fix the path (relative paths start at the config file's folder)",
        )
    return f"file: {own.path}"


ADAPTER = SourceAdapter(
    type_name="file",
    settings_model=FileSourceSettings,
    source=_source,
    check=_check,
    reads_ranges=True,
)
