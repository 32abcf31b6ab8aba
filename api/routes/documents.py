"""`/api/documents`: list, read, add and delete articles (changes need the admin token).

Left out: bulk upload and file uploads; `rag ingest` covers folders.
"""

from typing import Any

from fastapi import APIRouter, Response

from api.deps import AdminDep, ServiceDep
from api.schemas import (
    ArticleIn,
    ChunkSpan,
    Deleted,
    DocumentDetail,
    ErrorBody,
    IngestResult,
)
from rag.public import DocumentPublic

router = APIRouter(prefix="/api/documents", tags=["documents"])

ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token"},
    403: {"model": ErrorBody, "description": "No RAG_ADMIN_TOKEN configured"},
}


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
