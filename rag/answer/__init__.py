"""Stage 3, answer: from a question and retrieved passages to a short cited answer.

`question` says what a question asks for; `reader` is the offline generator (short
answer plus quoted sentence); `llm` and `local_llm` are the LLM generators behind the
`generate` protocol; `citations` and `guarantee` check an LLM's `[n]` markers against
the passages; `facts` says whether a passage states a claim's values and names, for
the reader's value comparison and both checks; `conversation` turns follow-ups into
standalone queries. Left out: retrieval (rag.index) and the order of the steps, which
`rag.service` runs.
"""
