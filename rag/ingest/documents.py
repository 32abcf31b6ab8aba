"""Read article files, strip web boilerplate and extract title, date, outlet and author.

Deliberately left out: HTML, PDF and exports (`rag.ingest.formats` reads those), language
detection, and guessing a date the text does not give. Cleaning removes whole lines
or paragraphs only, so every article sentence survives byte for byte.
"""

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rag.errors import InvalidInput
from rag.schema import Article

SUFFIXES = (".txt", ".md")
TITLE_MAX_CHARS = 90

# Everything from the first of these lines onwards is the site's footer, not the story.
_TAIL_MARKERS = re.compile(
    r"^(source link|leave a reply|discover more from\b|subscribe now\b|share this:?|"
    r"like this:?|related posts?:?|continue reading|click to share\b)",
    re.IGNORECASE,
)
# Single lines that are site chrome wherever they appear.
_CHROME_LINES = re.compile(
    r"^(.{1,60} - a story for you|advertisement|read more:?|skip to content|"
    r"sign up for our newsletter.*|follow us on .{1,40})$",
    re.IGNORECASE,
)
# A paragraph ending in a photo credit is a caption ("... Photo by Name/AGENCY | License Photo").
_CAPTION = re.compile(
    r"(?:file )?photo(?:s)? (?:by|courtesy of) [^.\n]{2,80}(?:/[A-Za-z][\w .-]{0,30})?"
    r"(?:\s*\|\s*license photo)?\.?$",
    re.IGNORECASE,
)
# Indented bullet lines carrying links to other stories, e.g. "  • Voltage : GPS ...".
_TEASER = re.compile(r"^\s+[•·▪]\s+\S")
_DATE_LINE = re.compile(r"^\s*date[:\s]+(\d{4})-(\d{2})-(\d{2})\b[ \t]*", re.IGNORECASE)
_SOURCE_LINE = re.compile(r"^\s*source:\s*(?!link\b)(.{2,80}?)\s*$", re.IGNORECASE)
_WITH_AGENCIES = re.compile(
    r"^\s*[Ww]ith ((?:[A-Z][\w.]{1,15})(?:(?:,\s*| and )[A-Z][\w.]{1,15})*)\.?\s*$"
)
_MONTHS = {
    name.lower(): i
    for i in range(1, 13)
    for name in (calendar.month_name[i], calendar.month_abbr[i])
}
_MONTHS["sept"] = 9
_DATELINE = re.compile(
    r"^(?:[A-Z][A-Za-z .,'-]{0,40}[,—–-]\s*)?"
    r"(?P<mon>[A-Z][a-z]{2,8})\.?\s+(?P<day>\d{1,2})(?:,\s*(?P<year>\d{4}))?\s*"
    r"\((?P<agency>[A-Z][A-Za-z]{1,10})\)",
)
_WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")


def binary_file(name: str) -> InvalidInput:
    """The error for a file or record that holds NUL characters: not text."""
    return InvalidInput(f"{name}: looks binary (contains NUL characters); not an article")


def not_utf8(name: str, at: int) -> InvalidInput:
    """The error for a file whose byte `at` starts no UTF-8 character."""
    return InvalidInput(f"{name}: not valid UTF-8 (byte {at}); re-save it as UTF-8")


def read_text(path: Path) -> str:
    """Return a file's text; binary or non-UTF-8 content is an `InvalidInput`."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{path.name}: cannot read file ({exc.strerror})") from exc
    if b"\x00" in raw:  # checked before decoding, so a binary file is named as such
        raise binary_file(path.name)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise not_utf8(path.name, exc.start) from exc


def clean_text(raw: str) -> str:
    """Drop boilerplate lines, captions, teasers and footers; keep story lines verbatim."""
    lines = raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for line in lines:
        stripped = line.strip()
        if _TAIL_MARKERS.match(stripped):
            break
        if _CHROME_LINES.match(stripped) or _TEASER.match(line):
            continue
        if stripped and _CAPTION.search(stripped):
            continue
        kept.append(line.rstrip())
    text = "\n".join(kept)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def _first_sentence(text: str) -> str:
    body = text.strip()
    match = re.search(r"(?<=[.!?])[\s”\"]", body)
    return body[: match.start()] if match else body.split("\n", 1)[0]


def _shorten(sentence: str, limit: int = TITLE_MAX_CHARS) -> str:
    sentence = re.sub(r"\s+", " ", sentence).strip().rstrip(". ")
    if len(sentence) <= limit:
        return sentence
    cut = sentence[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def extract_title(text: str) -> str:
    """A headline line if the article opens with one, else its first sentence, shortened."""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    if not paragraphs:
        return ""
    first = paragraphs[0]
    if "\n" not in first and len(first) <= 160 and not first.endswith((".", "!", "?")):
        return first
    opening = _DATELINE.sub("", first).lstrip(" —–-")
    # A repeated dateline ("May 2 (AP) — CITY, Country, May 2 (AP) —").
    opening = _DATELINE.sub("", opening).lstrip(" —–-")
    return _shorten(_first_sentence(opening))


def _infer_year(month: int, day: int, text: str) -> int | None:
    """Year of a year-less dateline, only when the text pins it down.

    The opening paragraph must name a weekday, and exactly one year in the span of
    years the article mentions must put that month and day on that weekday.
    """
    opening = text[:600].lower()
    weekdays = [w for name, w in _WEEKDAYS.items() if re.search(rf"\b{name}\b", opening)]
    years = [int(y) for y in _YEAR.findall(text)]
    if len(weekdays) != 1 or not years:
        return None
    fits = []
    for year in range(min(years), max(years) + 1):
        try:
            if date(year, month, day).weekday() == weekdays[0]:
                fits.append(year)
        except ValueError:
            continue
    return fits[0] if len(fits) == 1 else None


def extract_published(raw: str, text: str) -> date | None:
    """Publication date from a `date YYYY-MM-DD` line or a dateline; None when unknown."""
    match = _DATE_LINE.match(raw)
    if match:
        try:
            return date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return None
    for paragraph in text.split("\n\n")[:3]:
        dl = _DATELINE.match(paragraph.strip())
        if not dl:
            continue
        month = _MONTHS.get(dl["mon"].lower().rstrip("."))
        if month is None:
            continue
        day = int(dl["day"])
        year = int(dl["year"]) if dl["year"] else _infer_year(month, day, paragraph)
        if year is None:
            year = _infer_year(month, day, text[text.find(paragraph) :])
        if year is None:
            return None
        try:
            return date(year, month, day)
        except ValueError:
            return None
    return None


def extract_outlet(raw: str) -> str | None:
    """Outlet or agencies named by a `Source:` line, a `With X and Y` line or a dateline."""
    for line in reversed(raw.splitlines()):
        src = _SOURCE_LINE.match(line)
        if src:
            return src[1].strip()
        agencies = _WITH_AGENCIES.match(line)
        if agencies:
            return agencies[1].strip()
    for paragraph in raw.split("\n\n")[:4]:
        dl = _DATELINE.match(paragraph.strip())
        if dl:
            return dl["agency"]
    return None


# -- bylines ---------------------------------------------------------------------------

# A byline is looked for among the first lines of the story only: further down, a line
# starting with "By" is story text ("By Monday the river had risen.").
BYLINE_WINDOW = 4  # non-blank lines, after a leading date line
BYLINE_MAX_CHARS = 120
_BYLINE = re.compile(r"^\s*by:?\s+(?P<rest>\S.*?)\s*$", re.IGNORECASE)
# What clearly ends the names and starts an organisation: "|" or a spaced dash.
_ORG_SEPARATOR = re.compile(r"\s*\|\s*|\s+[—–-]\s+")
_LIST_END = re.compile(r"(?:^|\s)(?:and|&)\s", re.IGNORECASE)
_NAME_JOINER = re.compile(r"\s*,\s*(?:and\s+|&\s*)?|\s+(?:and|&)\s+", re.IGNORECASE)
# Lowercase words that belong inside personal names ("Ana de la Cruz", "Ludwig van Beek").
_NAME_PARTICLES = frozenset(
    {"al", "bin", "da", "das", "de", "del", "della", "der", "di", "dos", "du", "el", "ibn",
     "la", "le", "van", "von", "y"}
)  # fmt: skip
# A byline's first word never names a day or a month: "By Monday ...", "By March ...".
_CALENDAR_WORDS = frozenset(_WEEKDAYS) | frozenset(_MONTHS)
_INITIALISM = re.compile(r"(?:[A-Z]\.)+[A-Z]?\.?")
_SENTENCE_MARKS = re.compile(r"[.!?;:]")
# A trailing part naming the writer's job, not the outlet ("By Ana Ruiz, Staff Writer").
_ROLE_WORDS = re.compile(
    r"\b(?:writer|reporter|correspondent|editor|staff|contributor|columnist|journalist|"
    r"producer|analyst|special to)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Byline:
    """Who wrote an article and, when the byline names it apart, for which outlet."""

    author: str  # several writers joined by "; ", as the HTML reader (trafilatura) does
    outlet: str | None


def _is_name(words: list[str]) -> bool:
    """Two to five words, each capitalised (an initial counts) or a name particle
    between them; the first not a weekday or month."""
    if not 2 <= len(words) <= 5 or words[0].lower().rstrip(".") in _CALENDAR_WORDS:
        return False
    for i, word in enumerate(words):
        letters = word.replace(".", "").replace("-", "").replace("'", "").replace("’", "")
        if not letters.isalpha():
            return False
        inner = 0 < i < len(words) - 1
        if not (word[0].isupper() or (inner and word.lower() in _NAME_PARTICLES)):
            return False
    return True


def _names(text: str) -> list[str] | None:
    """The personal names of "A", "A and B", "A, B and C" (or "&"); None if any part
    is not a name."""
    names = [n.strip() for n in _NAME_JOINER.split(text.strip().rstrip("."))]
    if not names or len(names) > 6 or not all(_is_name(n.split()) for n in names):
        return None
    return names


def _organisation(text: str) -> str | None:
    """A trailing organisation: short, capitalised, not a sentence and not a job title.

    Dots are allowed only in initialisms ("A.F.P.", "U.S. News"), and one at the end.
    """
    text = text.strip()
    if text.endswith(".") and not _INITIALISM.fullmatch(text.split()[-1]):
        text = text[:-1]
    words = text.split()
    if not 1 <= len(words) <= 8 or len(text) > 60 or not text[0].isupper():
        return None
    if not all(_INITIALISM.fullmatch(w) or not _SENTENCE_MARKS.search(w) for w in words):
        return None
    return None if _ROLE_WORDS.search(text) else text


def parse_byline(line: str) -> Byline | None:
    """A byline line: "By NAME[S]", optionally followed by ", ORG", " | ORG" or " - ORG".

    NAMES are one to six personal names joined by commas, "and" or "&". After a comma,
    the last part is an organisation unless the list ends "and NAME", so "By Ana Ruiz,
    Ben Ode" reads Ben Ode as an outlet: a comma cannot tell a second writer from a
    two-word outlet. A job title after the names ("Staff Writer") is dropped, not an
    outlet. Lines that are sentences ("By Monday the river had risen.") are not bylines.
    """
    match = _BYLINE.match(line)
    if not match or len(line.strip()) > BYLINE_MAX_CHARS:
        return None
    rest = match["rest"]
    parts = _ORG_SEPARATOR.split(rest, maxsplit=1)
    names: list[str] | None
    org_text: str | None = None
    if len(parts) == 2:
        names, org_text = _names(parts[0]), parts[1]
    else:
        head, comma, tail = rest.rpartition(",")
        # "A, B and C": the comma joins names; "A and B, ORG": it ends them.
        listed = bool(_LIST_END.search(tail))
        if comma and not listed:
            names, org_text = _names(head), tail
        else:
            names = _names(rest)
            if names is None and comma:  # "A, ORG and ORG"
                names, org_text = _names(head), tail
    if names is None:
        return None
    outlet = _organisation(org_text) if org_text else None
    if org_text and outlet is None and not _ROLE_WORDS.search(org_text):
        return None  # something other than an outlet or a job title follows: a sentence
    return Byline("; ".join(names), outlet)


def _byline_index(lines: Sequence[str]) -> tuple[int, Byline] | None:
    """Where the byline is among the first `BYLINE_WINDOW` non-blank lines, and what it says."""
    seen = 0
    for i, line in enumerate(lines):
        if not line.strip() or line == _PAGE_MARK:  # a PDF's page mark is not a line read
            continue
        byline = parse_byline(line)
        if byline is not None:
            return i, byline
        seen += 1
        if seen >= BYLINE_WINDOW:
            return None
    return None


def _story_lines(raw: str) -> list[str]:
    """The raw text's lines, a leading `date YYYY-MM-DD` line dropped."""
    body = _DATE_LINE.sub("", raw, count=1)
    return body.replace("\r\n", "\n").split("\n")


def extract_byline(raw: str) -> Byline | None:
    """The byline near the top of an article (see `parse_byline`), if it has one."""
    found = _byline_index(_story_lines(raw))
    return found[1] if found else None


def _clean_body(raw: str) -> str:
    """Cleaned story text: a leading date line, a byline and attribution lines dropped,
    then `clean_text`. They are metadata, not story text; whole lines go, so the text
    left is the one citations' spans index."""
    lines = _story_lines(raw)
    found = _byline_index(lines)
    if found is not None:
        del lines[found[0]]
    lines = [ln for ln in lines if not (_SOURCE_LINE.match(ln) or _WITH_AGENCIES.match(ln))]
    return clean_text("\n".join(lines))


def parse_article(
    doc_id: str,
    raw: str,
    *,
    title: str | None = None,
    published: date | None = None,
    outlet: str | None = None,
    source: str | None = None,
    url: str | None = None,
    author: str | None = None,
    language: str | None = None,
) -> Article:
    """Clean raw article text and fill in metadata not given by the caller.

    The one gate for files and API posts alike: text with NUL characters is binary data
    (a PDF or image read as text), never an article.
    """
    if "\x00" in raw:
        raise binary_file(source or doc_id)
    text = _clean_body(raw)
    return _article(
        doc_id, raw, text, title, published, outlet, source, url, author=author,
        language=language,
    )  # fmt: skip


def _article(
    doc_id: str,
    raw: str,
    text: str,
    title: str | None,
    published: date | None,
    outlet: str | None,
    source: str | None,
    url: str | None,
    pages: tuple[int, ...] = (),
    *,
    author: str | None = None,
    language: str | None = None,
) -> Article:
    """The article with metadata given, else read from the raw text: a `Source:` or
    agency line names the outlet before a byline's organisation does."""
    if not text:
        raise InvalidInput(f"{doc_id}: no article text left after cleaning")
    byline = extract_byline(raw)
    return Article(
        doc_id=doc_id,
        text=text,
        title=title or extract_title(text) or doc_id,
        published=published or extract_published(raw, text),
        outlet=outlet or extract_outlet(raw) or (byline.outlet if byline else None),
        source=source,
        url=url,
        pages=pages,
        author=author or (byline.author if byline else None),
        language=language,
    )


# Marks where a page starts while the joined pages are cleaned. A Unicode noncharacter
# (reserved for internal use, removed from page text first) on a line of its own: no
# cleaning rule drops or strips such a line, and cleaning only ever removes whole lines,
# so after cleaning the marks sit exactly between the pages' surviving text.
_PAGE_MARK = "\ufdd0"


def parse_pages(doc_id: str, pages: Sequence[str], *, source: str | None = None) -> Article:
    """An article from the text of consecutive pages (a PDF), joined by blank lines.

    `Article.pages` holds where each page starts in the cleaned text: page n (from 1)
    starts at `pages[n - 1]`. A page left empty by cleaning starts where the next page's
    text does; pages after a footer marker (cut by cleaning) are not listed.
    """
    texts = [p.replace(_PAGE_MARK, "").strip() for p in pages]
    plain = "\n\n".join(t for t in texts if t)
    if "\x00" in plain:
        raise binary_file(source or doc_id)
    cleaned = _clean_body(f"\n\n{_PAGE_MARK}\n\n".join(texts))
    parts: list[str] = []
    starts: list[int | None] = []
    end = 0  # length of the text built so far
    for segment in cleaned.split(_PAGE_MARK):
        segment = segment.strip("\n")
        if not segment:
            starts.append(None)  # filled in with the next page's start below
            continue
        start = end + 2 if parts else 0
        starts.append(start)
        parts.append(segment)
        end = start + len(segment)
    offsets: list[int] = []
    following = end
    for known in reversed(starts):
        following = following if known is None else known
        offsets.append(following)
    offsets.reverse()
    text = "\n\n".join(parts)
    return _article(doc_id, plain, text, None, None, None, source, None, tuple(offsets))


def load_article(path: Path) -> Article:
    """Read and parse one article file; `doc_id` is the file stem."""
    return parse_article(path.stem, read_text(path), source=path.name)


def find_article_files(folder: Path, suffixes: tuple[str, ...] = SUFFIXES) -> list[Path]:
    """All files with these suffixes under a folder, sorted; hidden files and folders skipped."""
    if not folder.exists():
        raise InvalidInput(f"folder not found: {folder}")
    if not folder.is_dir():
        raise InvalidInput(f"not a folder: {folder}")
    files = [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and p.suffix.lower() in suffixes
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    if not files:
        others = [s for s in suffixes if s not in SUFFIXES]
        nor = f" (nor {', '.join(others)})" if others else ""
        raise InvalidInput(f"no .txt or .md files{nor} in {folder}")
    return files
