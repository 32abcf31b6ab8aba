"""Optional LLM-judge faithfulness: does an OpenAI-compatible model find each answer
backed by its cited quotes? Reported apart from the deterministic scores; an answer the
model could not judge (error, unclear reply) is counted as unmeasured, never as a no.
"""

from typing import Any

import openai
from openai import OpenAI

from rag.answer.prompts import load_prompt
from rag.config import Settings
from rag.errors import ConfigError


def judge_results(settings: Settings, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Judge every answered question with citations; adds `judge` to each record."""
    if not (settings.openai_base_url or settings.openai_key()):
        raise ConfigError("--judge needs RAG_OPENAI_BASE_URL or RAG_OPENAI_API_KEY")
    client = OpenAI(
        api_key=settings.openai_key() or "not-needed",
        base_url=settings.openai_base_url,
        timeout=settings.openai_timeout_s,
    )
    template = load_prompt(settings.prompts_dir, "judge")
    measured = supported = unmeasured = 0
    for record in records:
        if not record["answerable"] or not record["citations"]:
            continue
        quotes = "\n".join(f"[{c['n']}] {c['quote']}" for c in record["citations"])
        prompt = template.format(quotes=quotes, answer=record["answer"])
        try:
            reply = client.chat.completions.create(
                model=settings.openai_model, temperature=0, max_tokens=3,
                messages=[{"role": "user", "content": prompt}],
            )  # fmt: skip
            word = (reply.choices[0].message.content or "").strip().lower()
        except openai.APIError:
            word = ""
        if word.startswith(("yes", "no")):
            measured += 1
            supported += word.startswith("yes")
            record["judge"] = word.startswith("yes")
        else:
            unmeasured += 1
            record["judge"] = None
    return {"model": settings.openai_model, "measured": measured, "supported": supported,
            "unmeasured": unmeasured}  # fmt: skip
