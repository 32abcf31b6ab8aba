"""Stage 2, index and retrieve: where chunks live and how the best ones are found.

`store` keeps chunks, the document catalogue and annotations in Chroma, with a write
lock and crash repair; `lexical` mirrors the live chunks in SQLite FTS5 for BM25;
`embed` holds the embedders; `retrieve` fuses dense search and BM25; `chroma_server`
runs a Chroma server when several workers share one index.
Left out: answering (rag.answer) and anything about HTTP.
"""
