"""Ingesting HTML, PDF, JSON Lines and CSV files (small hand-written files, fake embedder)."""

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from fakes import FakeEmbedder
from pdfs import pages_pdf, text_pdf
from pypdf import PdfWriter

from rag import cli
from rag.config import Settings
from rag.errors import InvalidInput
from rag.ingest import formats
from rag.public import citation_dict, passage_dict
from rag.schema import DocumentInfo
from rag.service import RagService

STORY = (
    "The regional government of Tacna declared a state of emergency on Monday after "
    "thousands of migrants gathered at the Chacalluta border crossing. Officials said "
    "the measure would last 60 days and allow the army to support the police."
)


@pytest.fixture
def service(make_settings: Callable[..., Settings]) -> RagService:
    return RagService(make_settings(embedder="fake"), embedder=FakeEmbedder())


def docs(service: RagService) -> dict[str, DocumentInfo]:
    return {d.doc_id: d for d in service.documents()}


def test_html_pages(service: RagService, tmp_path: Path) -> None:
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "tacna.html").write_text(
        "<!DOCTYPE html><html><head><title>Emergency in Tacna | Andina</title>"
        '<meta property="og:title" content="Emergency declared in Tacna">'
        '<meta property="og:site_name" content="Andina">'
        '<meta property="article:published_time" content="2023-04-26T08:00:00-05:00">'
        '<link rel="canonical" href="https://andina.example/tacna-emergency">'
        "</head><body><nav><a href='/'>Home</a> <a href='/world'>World</a></nav>"
        f"<article><h1>Emergency declared in Tacna</h1><p>{STORY}</p>"
        "<p>The border has been closed to vehicles since Wednesday, the ministry said.</p>"
        "</article><footer>© 2023 Andina. All rights reserved.</footer></body></html>",
        encoding="utf-8",
    )
    # Unclosed tags everywhere: lxml repairs, the text survives.
    (folder / "broken.htm").write_bytes(
        b"<html><body><div><p>Peru's army took over the Tacna border posts on Friday "
        b"<b>after <i>a week of clashes</p><p>Hundreds of Venezuelans waited to cross "
        b"into Chile for a second night, aid groups reported.</div"
    )
    (folder / "empty.html").write_text(
        "<html><head><title>Nothing here</title></head><body></body></html>"
    )
    # Declared windows-1252, and the bytes are not UTF-8 (é = 0xE9, ’ = 0x92).
    cafe = (
        "El café de Tacna cerró el martes; los migrantes dijeron que no tenían "
        "adónde ir y que la frontera seguía cerrada para todos los vehículos."
    )
    (folder / "latin.html").write_bytes(
        (
            '<html><head><meta charset="windows-1252"><title>Café cerrado</title></head>'
            f"<body><article><p>{cafe}</p><p>It’s the third closure this year.</p>"
            "</article></body></html>"
        ).encode("cp1252")
    )
    (folder / "nul.html").write_bytes(b"<html><body><p>text\x00more</p></body></html>")
    report = service.ingest_folder(folder)
    assert sorted(report.created) == ["broken", "latin", "tacna"]
    skipped = dict(report.skipped)
    assert list(skipped) == ["empty.html", "nul.html"]
    assert "no article text" in skipped["empty.html"] and "NUL" in skipped["nul.html"]

    stored = docs(service)
    tacna = stored["tacna"]
    assert tacna.title == "Emergency declared in Tacna"
    assert tacna.published == date(2023, 4, 26)
    assert tacna.outlet == "Andina"
    assert tacna.url == "https://andina.example/tacna-emergency"
    assert tacna.source == "tacna.html"
    text = service.store.get_text("tacna")
    assert STORY in text and "closed to vehicles since Wednesday" in text
    assert "Home" not in text and "rights reserved" not in text
    assert "a week of clashes" in service.store.get_text("broken")
    latin = service.store.get_text("latin")
    assert cafe in latin and "It’s the third closure" in latin
    assert stored["latin"].title == "Café cerrado"


def test_pdfs_with_and_without_text(service: RagService, tmp_path: Path) -> None:
    folder = tmp_path / "pdfs"
    folder.mkdir()
    (folder / "report.pdf").write_bytes(text_pdf("Chile closed the Chacalluta crossing."))
    scan = PdfWriter()
    scan.add_blank_page(612, 792)
    with (folder / "scan.pdf").open("wb") as out:
        scan.write(out)
    (folder / "fake.pdf").write_bytes(b"not a pdf at all")
    report = service.ingest_folder(folder)
    assert report.created == ["report"]
    skipped = dict(report.skipped)
    assert skipped["scan.pdf"] == "scan.pdf: no text layer (scanned PDF?); skipped"
    assert "not a readable PDF" in skipped["fake.pdf"]
    assert service.store.get_text("report") == "Chile closed the Chacalluta crossing."


def test_jsonl_bad_records_are_skipped_by_line(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    service = RagService(
        make_settings(embedder="fake", max_article_chars=1000), embedder=FakeEmbedder()
    )
    folder = tmp_path / "export"
    folder.mkdir()
    first = {"id": "a1", "title": "Emergency", "date": "2023-04-26", "text": STORY}
    second = {
        "text": "Chile sent troops to the border on 27 April 2023.",
        "published": "27 April 2023",
    }
    lines = [
        json.dumps({**first, "url": "https://news.example/a1"}),
        json.dumps(second),
        '{"text": "unterminated',
        json.dumps({"title": "no text"}),
        "",
        json.dumps({"text": "x " * 600}),  # over the 1,000-character cap
        json.dumps({"text": "binary\u0000data"}),
        json.dumps({"id": "a1", "text": "A second record with the id of the first."}),
    ]
    (folder / "feed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = service.ingest_folder(folder)
    assert report.created == ["a1", "feed_2"]
    skipped = dict(report.skipped)
    assert list(skipped) == [f"feed.jsonl:{n}" for n in (3, 4, 6, 7, 8)]
    assert "not valid JSON" in skipped["feed.jsonl:3"]
    assert "no text in field 'text'" in skipped["feed.jsonl:4"]
    assert "limit is 1,000" in skipped["feed.jsonl:6"]
    assert "NUL" in skipped["feed.jsonl:7"]
    assert "same id as feed.jsonl:1" in skipped["feed.jsonl:8"]
    a1 = service.store.get_document("a1")
    assert a1 is not None and a1.title == "Emergency" and a1.published == date(2023, 4, 26)
    assert a1.url == "https://news.example/a1" and a1.source == "feed.jsonl"
    second = service.store.get_document("feed_2")
    assert second is not None and second.published == date(2023, 4, 27)

    # Records whose line is now bad keep their stored version when pruning.
    (folder / "feed.jsonl").write_text(lines[0] + "\n{broken\n", encoding="utf-8")
    pruned = service.ingest_folder(folder, prune=True)
    assert pruned.unchanged == ["a1"] and pruned.removed == []
    assert [n for n, _ in pruned.skipped] == ["feed.jsonl:2"]


def test_csv_export_with_cli_field_options(
    service: RagService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "news.csv").write_text(
        "key,headline,when,body\n"
        f'n1,Emergency in Tacna,2023-04-26,"{STORY}\n\nA second paragraph, quoted."\n'
        "n2,Empty,2023-04-27,\n"
        ",No key,26/04/2023,Migrants waited at the border for a third day.\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(cli, "get_settings", lambda: service.settings)
    monkeypatch.setattr(cli, "make_service", lambda settings: service)
    code = cli.main(
        ["ingest", str(folder), "--text-field", "body", "--title-field", "headline",
         "--date-field", "when", "--id-field", "key"]
    )  # fmt: skip
    assert code == 0
    stored = docs(service)
    assert sorted(stored) == ["n1", "news_6"]
    n1 = service.store.get_document("n1")
    assert n1 is not None and n1.title == "Emergency in Tacna"
    assert n1.published == date(2023, 4, 26)
    assert service.store.get_text("n1").endswith("A second paragraph, quoted.")
    other = service.store.get_document("news_6")
    assert other is not None and other.published == date(2023, 4, 26)

    with pytest.raises(InvalidInput, match=r"news\.csv: no 'text' column.*--text-field"):
        service.ingest_folder(folder)  # default field names


def test_declared_charset_is_read_from_meta_tags() -> None:
    meta = b'<html><head><meta charset="windows-1252"></head><body>caf\xe9</body></html>'
    equiv = (
        b'<html><head><meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">'
        b"</head><body>caf\xe9</body></html>"
    )
    assert formats._declared_charset(meta) == "cp1252"
    assert formats._declared_charset(equiv) == "cp1252"  # Latin-1 labels mean windows-1252
    assert formats._declared_charset(b"<html><body>caf\xc3\xa9</body></html>") is None
    assert formats._decode_html(meta) == meta.decode("cp1252")


BRIEFING = [
    [
        "Border briefing",
        "Peru's interior minister visited the Chacalluta crossing on Tuesday.",
        "He met police officers and officials from the migration office.",
    ],
    ["Advertisement"],  # left empty by cleaning
    [
        "The state of emergency in Tacna will last 60 days, the decree said.",
        "Soldiers will patrol the border alongside the police.",
    ],
]


def test_pdf_pages_are_kept_and_cited(
    service: RagService,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "pdfs"
    folder.mkdir()
    (folder / "briefing.pdf").write_bytes(pages_pdf(BRIEFING))
    [record] = formats.read_file(folder / "briefing.pdf")
    article = record.article
    assert article is not None
    text = article.text
    assert text.startswith("Border briefing\n") and "Advertisement" not in text
    third = text.index("The state of emergency")
    assert article.pages == (0, third, third)  # page 2 is empty: it starts where 3 does
    assert text[third - 2 : third] == "\n\n"
    assert article.page_at(0) == 1 and article.page_at(third - 1) == 1
    assert article.page_at(third) == 3

    service.ingest_folder(folder)
    assert service.store.get_text("briefing") == text
    stored = service.store.get_document("briefing")
    assert stored is not None and stored.pages == article.pages
    assert stored.version == article.version
    # A second run finds the same version (pages included): nothing to do.
    assert service.ingest_folder(folder).unchanged == ["briefing"]

    answer = service.ask("How long will the state of emergency in Tacna last?")
    assert answer.answerable and "60 days" in answer.answer
    [citation] = answer.citations
    assert citation.doc_id == "briefing" and citation.char_start >= third
    assert citation.page == 3
    assert citation_dict(citation)["page"] == 3
    # One chunk holds all three pages: it starts on page 1 and knows where pages 2 and 3 start.
    [passage] = [p for p in answer.passages if p.doc_id == "briefing"]
    assert passage.page == 1 and passage.page_breaks == (third, third)
    assert passage_dict(1, passage)["page"] == 1

    monkeypatch.setattr(cli, "get_settings", lambda: service.settings)
    monkeypatch.setattr(cli, "make_service", lambda settings: service)
    assert cli.main(["ask", "How long will the state of emergency in Tacna last?"]) == 0
    assert f"briefing p. 3 chars {citation.char_start}-" in capsys.readouterr().out


def test_chunks_store_the_page_they_start_on(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    service = RagService(
        make_settings(embedder="fake", chunk_size=32, chunk_overlap=0), embedder=FakeEmbedder()
    )
    folder = tmp_path / "pdfs"
    folder.mkdir()
    (folder / "briefing.pdf").write_bytes(pages_pdf(BRIEFING))
    (folder / "plain.txt").write_text(STORY, encoding="utf-8")
    service.ingest_folder(folder)
    [record] = formats.read_file(folder / "briefing.pdf")
    article = record.article
    assert article is not None
    got = service.store.chunks.get(where={"doc_id": "briefing"}, include=["metadatas"])
    pages = {}
    for meta in got["metadatas"] or []:
        assert meta is not None
        pages[int(str(meta["char_start"]))] = meta["page"]
        assert meta["page"] == article.page_at(int(str(meta["char_start"])))
    assert set(pages.values()) == {1, 3}
    plain = service.store.chunks.get(where={"doc_id": "plain"}, include=["metadatas"])
    assert all("page" not in (m or {}) for m in plain["metadatas"] or [])
    answer = service.ask("How long would the measure last?")
    assert [c.doc_id for c in answer.citations] == ["plain"]
    assert answer.citations[0].page is None and citation_dict(answer.citations[0])["page"] is None


def test_a_mixed_folder_is_reported_per_file_type_and_reingest_is_a_no_op(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "plain.txt").write_text("Border reopens\n\n" + STORY)
    (folder / "notes.md").write_text("# Port strike ends\n\nDock workers returned on Friday.")
    (folder / "page.html").write_text(
        "<html><head><title>Bridge opens</title></head><body><article><p>The new bridge "
        "opened to traffic on Tuesday after four years of work, the ministry said.</p>"
        "</article></body></html>"
    )
    (folder / "report.pdf").write_bytes(text_pdf("The council approved the budget on Monday."))
    records = [{"id": "r1", "text": STORY, "title": "One"}, {"id": "r2", "title": "No text"}]
    (folder / "feed.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    (folder / "feed.csv").write_text('id,title,text\nc1,Csv story,"Fishermen protested."\n')
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RAG_EMBEDDER", "fake")
    from rag.config import get_settings

    get_settings.cache_clear()
    try:
        assert cli.main(["ingest", str(folder), "--json"]) == 0
        first = json.loads(capsys.readouterr().out)
        assert cli.main(["ingest", str(folder), "--json"]) == 0
        second = json.loads(capsys.readouterr().out)
        service = RagService(get_settings())
        stored = {d.doc_id: service.store.get_text(d.doc_id) for d in service.documents()}
        answer = service.ask("When did the new bridge open?")
    finally:
        get_settings.cache_clear()
    assert first["by_type"] == {
        "csv": {"created": 1}, "html": {"created": 1}, "jsonl": {"created": 1, "skipped": 1},
        "md": {"created": 1}, "pdf": {"created": 1}, "txt": {"created": 1},
    }  # fmt: skip
    assert second["created"] == second["updated"] == 0 and second["unchanged"] == 6
    assert answer.citations
    for c in answer.citations:  # every quote is the article's own slice
        assert stored[c.doc_id][c.char_start : c.char_end] == c.quote


def test_html_author_language_and_url_reach_documents_and_citations(
    service: RagService, tmp_path: Path
) -> None:
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "ferry.html").write_text(
        '<html lang="en"><head><title>Ferry service resumes</title>'
        '<meta name="author" content="Ana Ruiz">'
        '<link rel="canonical" href="https://news.example.org/ferry"></head><body><article>'
        "<p>The island ferry resumed service on Thursday after a three-week strike ended, "
        "the operator said, with sailings every two hours.</p></article></body></html>"
    )
    service.ingest_folder(folder)
    info = docs(service)["ferry"]
    assert info.author == "Ana Ruiz" and info.url == "https://news.example.org/ferry"
    assert info.language == "en"
    answer = service.ask("When did the island ferry resume service?")
    citation = citation_dict(answer.citations[0])
    assert citation["url"] == "https://news.example.org/ferry"
    assert citation["author"] == "Ana Ruiz"


# -- a 10,000-record export -------------------------------------------------------------

GOOD_RECORDS = 10_000
# Line number -> (the line, what the report must say); the good records fill the rest.
BAD_LINES: dict[int, tuple[bytes, str]] = {
    17: (b'{"id": "cut", "text": "The council met', "not valid JSON"),
    4242: (json.dumps({"id": "empty", "title": "No text"}).encode(), "no text in field 'text'"),
    7001: (b'["a list", "not an object"]', "not a JSON object"),
    9999: (b'{"text": "caf\xe9 closed"}', "not valid UTF-8"),
}
BLANK_LINE = 5000


COUNCIL = "The council met on Tuesday and approved a new budget for the district"


def council_story(n: int) -> str:
    words = COUNCIL.split(" ")
    return " ".join(words[(n + i) % len(words)] for i in range(120)) + f". Record {n} ends."


def write_export(path: Path) -> dict[int, str]:
    """A JSON Lines export of `GOOD_RECORDS` good records around the bad lines and one
    blank line; returns the line number of each good record's id."""
    ids: dict[int, str] = {}
    n = 0
    with path.open("wb") as out:
        for line in range(1, GOOD_RECORDS + len(BAD_LINES) + 2):
            if line in BAD_LINES:
                out.write(BAD_LINES[line][0] + b"\n")
                continue
            if line == BLANK_LINE:
                out.write(b"  \n")
                continue
            n += 1
            ids[line] = f"r{n}"
            record = {"id": f"r{n}", "title": f"Council record {n}", "date": "2024-01-02",
                      "text": council_story(n)}  # fmt: skip
            out.write(json.dumps(record).encode() + b"\n")
    assert n == GOOD_RECORDS
    return ids


def test_a_10000_record_export_is_streamed_and_bad_lines_are_named(tmp_path: Path) -> None:
    import tracemalloc

    export = tmp_path / "big.jsonl"
    ids = write_export(export)
    size = export.stat().st_size
    warm = tmp_path / "warm.jsonl"  # imports and regex caches are not the reader's memory
    warm.write_text(json.dumps({"text": council_story(0)}) + "\n")
    list(formats.read_file(warm))

    good = 0
    bad: dict[int, str] = {}
    tracemalloc.start()
    try:
        for record in formats.read_file(export):  # nothing kept but counts and problems
            assert record.line is not None
            if record.article is None:
                bad[record.line] = record.problem or ""
                continue
            assert record.article.doc_id == ids[record.line]
            assert record.article.published == date(2024, 1, 2)
            good += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert good == GOOD_RECORDS
    assert sorted(bad) == sorted(BAD_LINES)
    for line, (_, reason) in BAD_LINES.items():
        assert reason in bad[line], (line, bad[line])
    # Reading the whole file at once would hold at least its size; a streaming reader
    # holds about a line at a time.
    assert size > 5_000_000 and peak < size / 20, (size, peak)


def test_a_big_csv_export_is_streamed_and_its_bad_rows_are_named(tmp_path: Path) -> None:
    import csv
    import tracemalloc

    export = tmp_path / "big.csv"
    with export.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "title", "date", "text"])
        for n in range(1, GOOD_RECORDS + 1):
            # every 1000th story spans two lines inside its quoted field
            text = council_story(n) + ("\nA second line." if n % 1000 == 0 else "")
            writer.writerow([f"c{n}", f"Council record {n}", "2024-01-02", text])
        writer.writerow(["empty", "No text", "2024-01-02", ""])
    size = export.stat().st_size
    list(formats.read_file(export))  # imports and caches are not the reader's memory

    good, bad = 0, {}
    tracemalloc.start()
    try:
        for record in formats.read_file(export):
            if record.article is None:
                bad[record.line] = record.problem
                continue
            good += 1
            assert record.article.doc_id == f"c{good}"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert good == GOOD_RECORDS
    # the header is line 1 and ten stories took two lines each
    assert bad == {GOOD_RECORDS + 2 + 10: "no text in field 'text'"}
    assert size > 5_000_000 and peak < size / 20, (size, peak)


def test_a_csv_export_with_a_bad_byte_is_refused_whole_before_any_record(tmp_path: Path) -> None:
    export = tmp_path / "latin.csv"
    good = "".join(f"c{n},Story {n},{council_story(n)}\n" for n in range(3000))
    export.write_bytes(b"id,title,text\n" + good.encode() + b"c9,Caf\xe9,closed\n")
    with pytest.raises(InvalidInput, match=r"latin\.csv: not valid UTF-8 \(byte \d+\)"):
        formats.read_file(export)
    export.write_bytes(b"id,title,body\n" + good.encode())
    with pytest.raises(InvalidInput, match=r"no 'text' column \(columns: id, title, body\)"):
        formats.read_file(export)


def test_a_slice_of_the_big_export_is_ingested(service: RagService, tmp_path: Path) -> None:
    # All 10,000 records through spaCy and the store take minutes on 2 shared CPUs (about
    # 0.1 s each): the reading is tested above at full size, ingesting on its first lines.
    ids = write_export(tmp_path / "big.jsonl")
    folder = tmp_path / "slice"
    folder.mkdir()
    head = (tmp_path / "big.jsonl").read_bytes().split(b"\n")[:40]
    (folder / "feed.jsonl").write_bytes(b"\n".join(head) + b"\n")
    report = service.ingest_folder(folder)
    assert report.created == [ids[n] for n in range(1, 41) if n in ids]
    assert len(report.created) == 39
    assert [name for name, _ in report.skipped] == ["feed.jsonl:17"]
    stored = service.store.get_document("r20")
    assert stored is not None and stored.title == "Council record 20"
    assert service.store.get_text("r20") == council_story(20)
