"""Stage 1, ingest: an article file or text becomes stored, searchable chunks.

`documents` reads and cleans text and finds its title, date and outlet; `chunking`
cuts token-sized chunks with exact character spans; `pipeline` embeds, annotates
(`rag.nlp`) and writes them through `rag.index.store`, idempotently. Left out: other
formats than plain text and Markdown, and fetching URLs.
"""
