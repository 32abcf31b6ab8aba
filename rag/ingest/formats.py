"""One reader per file format, chosen by suffix; each turns a file into articles.

Plain text and Markdown go through `load_article` unchanged. HTML pages are reduced to
their main text and metadata by trafilatura, PDFs to their text layer by pypdf, and
JSON Lines and CSV exports give one article per record. Every article is built by
`parse_article`, so the NUL rule, the cleaning and (later) the length cap apply to all.

`.pdf` articles record where each page starts, so chunks and citations name their page.

Deliberately left out: fetching URLs, OCR of scanned PDFs, an author field of export
records (a byline line in their text is read, as for plain text) and spreadsheets.
"""

import codecs
import csv
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from email.message import Message
from pathlib import Path

import dateparser  # at load, not on first use: a first import from two threads fails

from rag.errors import InvalidInput
from rag.ingest.documents import SUFFIXES as TEXT_SUFFIXES
from rag.ingest.documents import (
    binary_file,
    load_article,
    not_utf8,
    parse_article,
    parse_pages,
)
from rag.schema import Article


@dataclass(frozen=True)
class ReadOptions:
    """Field names of JSON Lines and CSV records (`rag ingest --text-field` and so on)."""

    text_field: str = "text"
    title_field: str = "title"
    date_field: str | None = None  # None: `date`, else `published`
    url_field: str = "url"
    id_field: str = "id"  # a record without one is `<file stem>_<line>`


@dataclass(frozen=True)
class Record:
    """One article read from a file, or why one record of an export was skipped."""

    article: Article | None
    line: int | None = None  # the record's line in an export, for the report
    problem: str | None = None


# A reader raises `InvalidInput` when the whole file is unusable.
# A reader may return an iterator that reads as it goes (JSON Lines); every check that
# refuses the whole file runs before it returns, so iterating raises no `InvalidInput`.
Reader = Callable[[Path, ReadOptions], Iterable[Record]]


def read_plain(path: Path, options: ReadOptions) -> list[Record]:
    """A `.txt` or `.md` article, exactly as `load_article` reads it."""
    return [Record(load_article(path))]


# -- HTML ---------------------------------------------------------------------------


def _declared_charset(raw: bytes) -> str | None:
    """The codec a page's `<meta charset>` or `http-equiv` Content-Type names, if known."""
    import lxml.html
    from lxml.etree import ParserError

    try:
        tree = lxml.html.document_fromstring(raw)
    except (ParserError, ValueError):
        return None
    names: list[str] = [str(v) for v in tree.xpath("//meta/@charset")]
    for content in tree.xpath(
        "//meta[translate(@http-equiv, 'CONTENT-YP', 'content-yp')='content-type']/@content"
    ):
        header = Message()
        header["content-type"] = str(content)  # the stdlib parses the charset parameter
        if charset := header.get_content_charset():
            names.append(charset)
    for name in names:
        try:
            codec = codecs.lookup(name.strip()).name
        except LookupError:
            continue
        # Browsers read pages labelled Latin-1 or ASCII as windows-1252 (WHATWG Encoding).
        return "cp1252" if codec in ("iso8859-1", "ascii") else codec
    return None


def _declared_language(raw: bytes) -> str | None:
    """The language a page declares (`<html lang>`, else a Content-Language meta tag)."""
    import lxml.html
    from lxml.etree import ParserError

    try:
        tree = lxml.html.document_fromstring(raw)
    except (ParserError, ValueError):
        return None
    declared = [str(tree.get("lang") or "")] + [
        str(v)
        for v in tree.xpath(
            "//meta[translate(@http-equiv, 'CONTENT-LAGU', 'content-lagu')='content-language']"
            "/@content"
        )
    ]
    return next((d.strip().split(",")[0] for d in declared if d.strip()), None)


def _decode_html(raw: bytes) -> str | bytes:
    """Text of a page decoded as its meta tag declares; raw bytes (trafilatura guesses) if none."""
    if raw.startswith(codecs.BOM_UTF8):
        return raw.decode("utf-8-sig", errors="replace")
    charset = _declared_charset(raw)
    if charset is None:
        return raw
    try:
        return raw.decode(charset)
    except UnicodeDecodeError:
        return raw  # the declaration is wrong: let trafilatura guess


def _iso_date(value: object) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def read_html(path: Path, options: ReadOptions) -> list[Record]:
    """An HTML page: main text, title, date, site name and URL extracted by trafilatura."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{path.name}: cannot read file ({exc.strerror})") from exc
    return [Record(parse_html(raw, path.stem, name=path.name, source=path.name))]


def _declared_headline(tree: object) -> str | None:
    """The headline a page's schema.org (JSON-LD) article object declares, if any.

    Preferred to trafilatura's title, which takes og:title first: where they differ the
    JSON-LD headline is usually the one the page shows, without a " | Outlet" suffix.
    """
    from trafilatura.metadata import extract_meta_json
    from trafilatura.settings import Document

    try:
        found = extract_meta_json(tree, Document()).title
    except Exception:  # malformed JSON-LD must never cost the page
        return None
    if not isinstance(found, str):
        return None
    return " ".join(found.split()) or None


def parse_html(
    raw: bytes, doc_id: str, *, name: str, source: str | None = None, url: str | None = None
) -> Article:
    """An article from the bytes of an HTML page (a file, or a page fetched from `url`)."""
    import trafilatura
    from trafilatura.utils import load_html

    if b"\x00" in raw:
        raise binary_file(name)
    tree = load_html(_decode_html(raw))
    headline = _declared_headline(tree) if tree is not None else None
    document = trafilatura.bare_extraction(
        tree if tree is not None else _decode_html(raw),
        with_metadata=True,
        include_comments=False,
        include_tables=True,
    )
    found: Mapping[str, object] = {}
    if isinstance(document, dict):
        found = document
    elif document is not None:
        found = document.as_dict()
    text = found.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{name}: no article text found in the page (empty body?)")

    def meta(key: str) -> str | None:
        value = found.get(key)
        return value.strip() or None if isinstance(value, str) else None

    return parse_article(
        doc_id,
        text,
        title=headline or meta("title"),
        published=_iso_date(found.get("date")),
        outlet=meta("sitename"),
        source=source,
        url=url or meta("url"),
        author=meta("author"),
        language=meta("language") or _declared_language(raw),
    )


# -- PDF ----------------------------------------------------------------------------


def read_pdf(path: Path, options: ReadOptions) -> list[Record]:
    """A PDF's text layer, pages joined by blank lines; a scanned PDF has none.

    The article records where each page starts (`Article.pages`), so chunks and
    citations name their page.
    """
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        pages = [page.extract_text() or "" for page in PdfReader(path).pages]
    except (PdfReadError, OSError, ValueError) as exc:
        raise InvalidInput(f"{path.name}: not a readable PDF ({exc})") from exc
    if not any(p.strip() for p in pages):
        raise InvalidInput(f"{path.name}: no text layer (scanned PDF?); skipped")
    return [Record(parse_pages(path.stem, pages, source=path.name))]


# -- JSON Lines and CSV exports ---------------------------------------------------------


def _record_date(value: object) -> date | None:
    """An ISO date or datetime, else whatever dateparser reads; None when unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    try:
        return datetime.fromisoformat(value).date()
    except ValueError:
        pass
    parsed = dateparser.parse(value, settings={"REQUIRE_PARTS": ["day", "month", "year"]})
    return parsed.date() if parsed else None


def _field(fields: Mapping[str, object], name: str) -> str | None:
    value = fields.get(name)
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value).strip() or None


def _record(path: Path, line: int, fields: Mapping[str, object], options: ReadOptions) -> Record:
    """One export record as an article, or the reason it cannot be one."""
    text = fields.get(options.text_field)
    if not isinstance(text, str) or not text.strip():
        return Record(None, line, f"no text in field {options.text_field!r}")
    dated = (options.date_field,) if options.date_field else ("date", "published")
    published = next((d for f in dated if (d := _record_date(fields.get(f)))), None)
    try:
        article = parse_article(
            _field(fields, options.id_field) or f"{path.stem}_{line}",
            text,
            title=_field(fields, options.title_field),
            published=published,
            source=path.name,
            url=_field(fields, options.url_field),
        )
    except InvalidInput as exc:
        return Record(None, line, str(exc))
    return Record(article, line)


# How much of an export is checked for NUL bytes before its records are read: enough to
# tell a binary file (a PDF or image renamed) from JSON text, which has none.
SNIFF_BYTES = 8192


def read_jsonl(path: Path, options: ReadOptions) -> Iterator[Record]:
    """One article per JSON object line; blank lines are ignored, bad lines reported.

    Streams: the file is read line by line as the records are consumed, so memory holds
    one line at a time, not the export (what the caller keeps of the articles aside). A
    file whose first `SNIFF_BYTES` hold a NUL byte is binary and refused whole, here,
    before any record; later, a line that is not UTF-8 or not a JSON object is one bad
    record reported by its line number.
    """
    try:
        with path.open("rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as exc:
        raise InvalidInput(f"{path.name}: cannot read file ({exc.strerror})") from exc
    if b"\x00" in head:
        raise binary_file(path.name)
    return _jsonl_records(path, options)


def _jsonl_records(path: Path, options: ReadOptions) -> Iterator[Record]:
    line = 0
    try:
        with path.open("rb") as f:
            # Binary lines end at b"\n" only: JSON strings may hold U+2028 and other
            # breaks a text-mode reader or `splitlines` would cut at.
            for line, raw in enumerate(f, start=1):
                record = _jsonl_record(path, line, raw, options)
                if record is not None:
                    yield record
    except OSError as exc:  # the disk failed mid-read: what was read stands
        yield Record(None, line + 1, f"cannot read the rest of the file ({exc.strerror})")


def _jsonl_record(path: Path, line: int, raw: bytes, options: ReadOptions) -> Record | None:
    """One line of an export as a record, or why it is not one; None for a blank line."""
    if line == 1:
        raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Record(None, line, f"not valid UTF-8 (byte {exc.start} of the line)")
    if not content.strip():
        return None
    try:
        fields = json.loads(content)
    except json.JSONDecodeError as exc:
        return Record(None, line, f"not valid JSON ({exc.msg})")
    if not isinstance(fields, dict):
        return Record(None, line, "not a JSON object")
    return _record(path, line, fields, options)


def _csv_rows(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, str] | csv.Error]]:
    """(first line, row) of each CSV record; a malformed one is its `csv.Error`."""
    reader = csv.DictReader(lines)
    start = 2  # line 1 is the header
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, exc
        else:
            yield start, row
        start = reader.line_num + 1


# Bytes read at a time when a CSV export is checked before its records are read.
CHECK_BYTES = 1 << 16


def read_csv(path: Path, options: ReadOptions) -> Iterator[Record]:
    """One article per CSV row under a header row naming the fields.

    Streams like `read_jsonl`. A CSV record may span lines, so a bad byte cannot be
    pinned to one record: the whole file is first checked, 64 KiB at a time, to be
    UTF-8 text without NUL bytes, and its header to name the text column; a file that
    fails is refused whole, before any record.
    """
    try:
        decoder = codecs.getincrementaldecoder("utf-8")()
        offset = 0
        with path.open("rb") as f:
            while block := f.read(CHECK_BYTES):
                if b"\x00" in block:
                    raise binary_file(path.name)
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    raise not_utf8(path.name, offset + exc.start) from exc
                offset += len(block)
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError as exc:
                raise not_utf8(path.name, offset + exc.start) from exc
        with path.open(encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), [])
    except OSError as exc:
        raise InvalidInput(f"{path.name}: cannot read file ({exc.strerror})") from exc
    if options.text_field not in header:
        raise InvalidInput(
            f"{path.name}: no {options.text_field!r} column (columns: {', '.join(header)}); "
            "name the text column with --text-field"
        )
    return _csv_records(path, options)


def _csv_records(path: Path, options: ReadOptions) -> Iterator[Record]:
    # The stdlib refuses fields over 128 KiB; articles may be longer (the length cap
    # comes later, with a message that names the limit). The setting is process-wide.
    csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))
    line = 1
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            for line, row in _csv_rows(f):
                if isinstance(row, csv.Error):
                    yield Record(None, line, f"malformed CSV ({row})")
                else:
                    yield _record(path, line, row, options)
    except OSError as exc:  # the disk failed mid-read: what was read stands
        yield Record(None, line + 1, f"cannot read the rest of the file ({exc.strerror})")


READERS: dict[str, Reader] = {
    **dict.fromkeys(TEXT_SUFFIXES, read_plain),
    ".html": read_html,
    ".htm": read_html,
    ".pdf": read_pdf,
    ".jsonl": read_jsonl,
    ".csv": read_csv,
}
SUFFIXES = tuple(READERS)


def read_file(path: Path, options: ReadOptions | None = None) -> Iterable[Record]:
    """The articles of one file, read by the reader of its suffix: a list, or for the
    exports (JSON Lines, CSV) an iterator that reads the file as it is consumed (iterate
    it once)."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise InvalidInput(f"{path.name}: unsupported file type; use one of {', '.join(SUFFIXES)}")
    return reader(path, options or ReadOptions())
