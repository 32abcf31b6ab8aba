"""`/api/documents`: list, read, add and delete articles (changes need the admin token).

Files are uploaded as multipart form data and read exactly as `rag ingest` reads a
folder's files (by suffix), from a temporary folder removed afterwards. The whole
request counts against `RAG_MAX_BODY_BYTES`.
"""

import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Response, UploadFile

from api.deps import AdminDep, ServiceDep
from api.schemas import (
    ArticleIn,
    ChunkSpan,
    Deleted,
    DocumentDetail,
    ErrorBody,
    FileOutcome,
    IngestResult,
    RecordOutcome,
    UploadResult,
    UrlsIn,
    UrlsResult,
)
from rag.ingest.formats import ReadOptions
from rag.public import DocumentPublic

router = APIRouter(prefix="/api/documents", tags=["documents"])

ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token"},
    403: {"model": ErrorBody, "description": "No RAG_ADMIN_TOKEN configured"},
}


MAX_FIELD_NAME_CHARS = 100
# A record field's name: something to look up, so no blank or space-padded names (a
# CSV header cell " body" is a different column from "body").
_FIELD_NAME = r"^\S(?:.*\S)?$"


def _field_name(what: str, default: str) -> Any:
    """The form field (its bounds and docs) naming a field of export records."""
    return Form(
        min_length=1,
        max_length=MAX_FIELD_NAME_CHARS,
        pattern=_FIELD_NAME,
        description=f"Field of `.jsonl`/`.csv` records holding the {what} (default: {default})",
    )


@router.get("", response_model=list[DocumentPublic])
def list_documents(service: ServiceDep) -> list[DocumentPublic]:
    """Every document in the index."""
    return [DocumentPublic.of(d) for d in service.documents()]


@router.get("/{doc_id}", response_model=DocumentDetail, responses={404: {"model": ErrorBody}})
def get_document(doc_id: str, service: ServiceDep) -> DocumentDetail:
    """A document's cleaned text and where its chunks lie in it."""
    info, text, chunks = service.document(doc_id)
    spans = [
        ChunkSpan(chunk_id=c.chunk_id, index=c.index, char_start=c.char_start,
                  char_end=c.char_end)
        for c in sorted(chunks, key=lambda c: c.index)
    ]  # fmt: skip
    return DocumentDetail(**DocumentPublic.of(info).model_dump(), text=text, chunks=spans)


@router.post(
    "",
    response_model=IngestResult,
    status_code=201,
    dependencies=[AdminDep],
    responses={
        **ADMIN_ERRORS,
        200: {"model": IngestResult, "description": "Updated or unchanged"},
        413: {"model": ErrorBody, "description": "Article longer than RAG_MAX_ARTICLE_CHARS"},
    },
)
def add_document(body: ArticleIn, service: ServiceDep, response: Response) -> IngestResult:
    """Add or update one article; the same text and metadata again changes nothing."""
    outcome, written, info = service.add_text(
        body.text, doc_id=body.doc_id, title=body.title, published=body.published,
        outlet=body.outlet,
    )  # fmt: skip
    response.status_code = 201 if outcome == "created" else 200
    return IngestResult(outcome=outcome, chunks_written=written, document=DocumentPublic.of(info))


def _file_name(upload: UploadFile, n: int) -> str:
    """The upload's own file name without any folders (a browser may send a path),
    shortened to what a file system takes (its suffix kept)."""
    raw = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if raw in ("", ".", "..") or "\x00" in raw:
        return f"upload-{n}"
    path = Path(raw)
    suffix = path.suffix if len(path.suffix) <= 16 else ""
    stem = raw[: len(raw) - len(suffix)]
    while len((stem + suffix).encode()) > 200:
        stem = stem[:-1]
    return stem + suffix


@router.post(
    "/files",
    response_model=UploadResult,
    dependencies=[AdminDep],
    responses={
        **ADMIN_ERRORS,
        413: {"model": ErrorBody, "description": "Request body over RAG_MAX_BODY_BYTES"},
    },
)
def upload_files(
    files: Annotated[list[UploadFile], File(description="One or more article files")],
    service: ServiceDep,
    outlet: Annotated[
        str | None, Form(max_length=200, description="Outlet of every article uploaded")
    ] = None,
    published: Annotated[
        date | None, Form(description="Publication date of every article uploaded")
    ] = None,
    text_field: Annotated[str | None, _field_name("article text", "text")] = None,
    title_field: Annotated[str | None, _field_name("title", "title")] = None,
    date_field: Annotated[
        str | None, _field_name("publication date", "date, else published")
    ] = None,
    url_field: Annotated[str | None, _field_name("web address", "url")] = None,
    id_field: Annotated[
        str | None, _field_name("document id", "id, else <file stem>_<line>")
    ] = None,
) -> UploadResult:
    """Add the articles of uploaded files (`.txt .md .html .htm .pdf .jsonl .csv`).

    Each file is read by its suffix as `rag ingest` reads it: one article per file, or
    one per record of a `.jsonl`/`.csv` export. A file or record that cannot be used is
    `skipped` with the reason; the others go in. The document id is the file name's stem
    (or the record's `id`), so uploading a file again updates or keeps its document.
    `outlet` and `published`, when given, replace what the files say. `text_field` and
    the other `*_field`s name the fields of export records, as `rag ingest --text-field`
    and so on do; a name that is blank, padded with spaces or over
    `MAX_FIELD_NAME_CHARS` characters is a 422.
    """
    defaults = ReadOptions()
    options = ReadOptions(
        text_field=text_field or defaults.text_field,
        title_field=title_field or defaults.title_field,
        date_field=date_field,
        url_field=url_field or defaults.url_field,
        id_field=id_field or defaults.id_field,
    )
    with tempfile.TemporaryDirectory(prefix="rag-upload-") as tmp:
        saved: list[tuple[Path, str]] = []
        for n, upload in enumerate(files, start=1):
            name = _file_name(upload, n)
            folder = Path(tmp) / str(n)  # a folder each: two files may share a name
            folder.mkdir()
            with (folder / name).open("wb") as out:
                shutil.copyfileobj(upload.file, out)
            saved.append((folder / name, name))
        results = service.ingest_files(saved, options, outlet=outlet or None, published=published)
    outcomes = [
        FileOutcome(file=name, records=[RecordOutcome.model_validate(asdict(r)) for r in records])
        for (_, name), records in zip(saved, results, strict=True)
    ]
    return UploadResult(files=outcomes, counts=_counts(r for f in outcomes for r in f.records))


@router.post(
    "/urls",
    response_model=UrlsResult,
    dependencies=[AdminDep],
    responses={**ADMIN_ERRORS, 422: {"model": ErrorBody, "description": "No URL, or over 20"}},
)
def add_urls(body: UrlsIn, service: ServiceDep) -> UrlsResult:
    """Fetch article pages by URL and add them, read as `rag ingest URL` reads them.

    A page that cannot be fetched or read is `skipped` with the reason; the others go in.
    The document id comes from the URL, so adding it again updates or keeps its document.
    Unless `RAG_API_FETCH_PRIVATE` is set, URLs whose host is a loopback, private or
    link-local address (the server's own network) are skipped.
    """
    results = service.fetch_urls(body.urls, allow_private=service.settings.api_fetch_private)
    outcomes = [RecordOutcome.model_validate(asdict(r)) for r in results]
    return UrlsResult(urls=outcomes, counts=_counts(outcomes))


def _counts(outcomes: Iterable[RecordOutcome]) -> dict[str, int]:
    """How many records were created, updated, unchanged and skipped (each key present)."""
    counted = Counter[str](r.outcome for r in outcomes)
    return {k: counted[k] for k in ("created", "updated", "unchanged", "skipped")}


@router.delete(
    "/{doc_id}",
    response_model=Deleted,
    dependencies=[AdminDep],
    responses={**ADMIN_ERRORS, 404: {"model": ErrorBody}},
)
def delete_document(doc_id: str, service: ServiceDep) -> Deleted:
    """Remove a document and its chunks."""
    service.delete_document(doc_id)
    return Deleted(doc_id=doc_id, deleted=True)
