"""Split an article into token-sized chunks with exact character spans.

Uses llama-index's `SentenceSplitter` measured in tiktoken `cl100k_base` tokens. The
splitter reports where each chunk starts; this module checks every span so that
`article.text[char_start:char_end] == chunk.text` always holds, and recovers the span
by search when the splitter's own offset is missing or off.
"""

from functools import lru_cache

import tiktoken
from llama_index.core import Document
from llama_index.core.node_parser import SentenceSplitter

from rag.schema import Article, Chunk

ENCODING = "cl100k_base"


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    """The tiktoken encoding used for chunk sizes and question limits (bundled offline)."""
    return tiktoken.get_encoding(ENCODING)


def count_tokens(text: str) -> int:
    """Number of `cl100k_base` tokens in a text."""
    return len(encoding().encode(text, disallowed_special=()))


@lru_cache(maxsize=8)
def _splitter(chunk_size: int, chunk_overlap: int) -> SentenceSplitter:
    return SentenceSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        tokenizer=lambda text: encoding().encode(text, disallowed_special=()),
    )


def _locate(text: str, piece: str, hint: int | None, floor: int) -> int:
    if hint is not None and text[hint : hint + len(piece)] == piece:
        return hint
    found = text.find(piece, floor)
    if found < 0:
        found = text.find(piece)
    if found < 0:
        raise ValueError("chunk text not found in article")  # the splitter changed text
    return found


def split_article(article: Article, chunk_size: int = 200, chunk_overlap: int = 30) -> list[Chunk]:
    """Chunks of about `chunk_size` tokens overlapping by about `chunk_overlap` tokens."""
    nodes = _splitter(chunk_size, chunk_overlap).get_nodes_from_documents(
        [Document(text=article.text)]
    )
    chunks: list[Chunk] = []
    floor = 0
    for node in nodes:
        piece = node.get_content()
        if not piece.strip():
            continue
        start = _locate(article.text, piece, getattr(node, "start_char_idx", None), floor)
        end = start + len(piece)
        floor = start + 1
        chunks.append(
            Chunk(
                chunk_id=f"{article.doc_id}:{article.version[:12]}:{len(chunks)}",
                doc_id=article.doc_id,
                index=len(chunks),
                text=piece,
                char_start=start,
                char_end=end,
            )
        )
    return chunks
