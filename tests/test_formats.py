"""Ingesting HTML, PDF, JSON Lines and CSV files (small hand-written files, fake embedder)."""

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from fakes import FakeEmbedder
from pypdf import PdfWriter

from rag import cli
from rag.config import Settings
from rag.errors import InvalidInput
from rag.ingest import formats
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


def text_pdf(text: str) -> bytes:
    """A one-page PDF whose text layer is `text` (Helvetica, built by hand)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


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
