"""The `rag` command: ingest, ask, documents, and the commands packages add (serve, eval).

Errors from `rag.errors` become a one-line message on stderr and an exit code, here
and nowhere else (see `EXIT_CODES`).
"""

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

from rag.config import Settings, get_settings
from rag.errors import BackendUnavailable, ConfigError, InvalidInput, NotFound, RagError

if TYPE_CHECKING:
    from rag.service import RagService

COMMANDS = "news_rag.commands"  # entry-point group: callables that add a sub-command

EXIT_CODES: dict[type[RagError], int] = {
    InvalidInput: 2,
    NotFound: 3,
    ConfigError: 4,
    BackendUnavailable: 5,
}


def exit_code(error: RagError) -> int:
    """The process exit code of an error (1 for any other `RagError`)."""
    for kind, code in EXIT_CODES.items():
        if isinstance(error, kind):
            return code
    return 1


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {value!r}") from exc


def make_service(settings: Settings) -> "RagService":
    """The service a command works with (imported late: `rag documents` stays quick)."""
    from rag.service import RagService

    return RagService(settings)


def _progress(items: Sequence[Path], description: str) -> Iterator[Path]:
    """Files as they are ingested, with a bar on stderr: done/total, files per second and
    the time left (rich)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=len(items), rate="")
        for item in items:
            yield item
            bar.advance(task)
            speed = bar.tasks[task].speed
            bar.update(task, rate=f"{speed:.1f} files/s" if speed else "")


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from rag.ingest.formats import ReadOptions
    from rag.ingest.pipeline import IngestReport

    urls = [s for s in args.sources if s.lower().startswith(("http://", "https://"))]
    folders = [s for s in args.sources if s not in urls]
    if args.urls:
        urls += _url_lines(Path(args.urls))
    if len(folders) > 1:
        raise InvalidInput("give one folder per run (and any number of URLs)")
    service = make_service(settings)
    reports: list[IngestReport] = []
    if folders or not urls:
        folder = Path(folders[0]) if folders else settings.seeds_dir
        options = ReadOptions(
            text_field=args.text_field,
            title_field=args.title_field,
            date_field=args.date_field,
            url_field=args.url_field,
            id_field=args.id_field,
        )
        reports.append(
            service.ingest_folder(folder, prune=args.prune, track=_progress, options=options)
        )
    if urls:
        reports.append(service.ingest_urls(urls))
    report = IngestReport.merged(reports)
    if args.json:
        skipped = [{"file": f, "reason": r} for f, r in report.skipped]
        out = {**report.counts(), "chunks_written": report.chunks_written,
               "skipped_files": skipped, "by_type": report.by_kind}  # fmt: skip
        print(json.dumps(out))
    else:
        for name, reason in report.skipped:
            print(f"skipped {name}: {reason}", file=sys.stderr)
        if len(report.by_kind) > 1:  # a mixed folder: one line per file type
            for kind, kinds in sorted(report.by_kind.items()):
                print(f"  {kind}: " + ", ".join(f"{n} {o}" for o, n in sorted(kinds.items())))
        counts = ", ".join(f"{v} {k}" for k, v in report.counts().items())
        print(f"{counts} ({report.chunks_written} chunks written)")
    return 0


def _url_lines(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the URL list {path}: {exc}") from exc
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from rag.index.retrieve import Filters
    from rag.public import answer_dict, confidence_words

    service = make_service(settings)
    filters = Filters(
        doc_ids=tuple(args.doc_id) if args.doc_id else None,
        published_from=args.published_from,
        published_to=args.published_to,
        outlets=tuple(args.outlet) if args.outlet else None,
    )
    generator = service.make_generator(args.generator) if args.generator else None
    answer = service.ask(args.question, top_k=args.top_k, filters=filters, generator=generator)
    if args.json:
        print(json.dumps(answer_dict(answer), ensure_ascii=False, indent=2))
        return 0
    print(answer.answer)
    sure = confidence_words(answer.confidence) if answer.answerable else None
    if sure:
        print(f"({sure})")
    for c in answer.citations:
        when = c.published.isoformat() if c.published else "date unknown"
        flag = "" if c.supported else "  (unsupported)"
        print(f"\n[{c.n}] {c.title} — {c.outlet or 'outlet unknown'}, {when}{flag}")
        page = f" p. {c.page}" if c.page is not None else ""
        print(f"    {c.doc_id}{page} chars {c.char_start}-{c.char_end}: “{c.quote}”")
        if c.url:
            print(f"    {c.url}")
    return 0


def cmd_documents(args: argparse.Namespace, settings: Settings) -> int:
    from rag.public import document_dict

    docs = make_service(settings).documents()
    if args.json:
        print(json.dumps([document_dict(d) for d in docs], ensure_ascii=False, indent=2))
        return 0
    if not docs:
        print("no documents; run `rag ingest`")
    for d in docs:
        when = d.published.isoformat() if d.published else "----------"
        print(f"{d.doc_id}  {when}  {d.chunk_count:3d} chunks  {d.outlet or '-'}  {d.title}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser(
        "ingest", help="ingest a folder of articles (.txt .md .html .htm .pdf .jsonl .csv)"
    )
    ingest.add_argument(
        "sources", nargs="*", metavar="FOLDER|URL",
        help="a folder, and/or http(s) URLs of pages (default: RAG_SEEDS_DIR, seeds/)",
    )  # fmt: skip
    ingest.add_argument("--urls", metavar="FILE", help="a file of URLs to fetch, one per line")
    ingest.add_argument("--prune", action="store_true", help="remove documents whose file is gone")
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")
    records = ingest.add_argument_group("fields of .jsonl and .csv records")
    records.add_argument("--text-field", default="text", help="article text (default: text)")
    records.add_argument("--title-field", default="title", help="title (default: title)")
    records.add_argument("--date-field", help="publication date (default: date, else published)")
    records.add_argument("--url-field", default="url", help="web address (default: url)")
    records.add_argument("--id-field", default="id", help="id (default: id, else <file>_<line>)")
    ingest.set_defaults(func=cmd_ingest)

    ask = sub.add_parser("ask", help="answer a question with citations")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the full answer object")
    ask.add_argument("--top-k", type=int, default=None, help="passages to retrieve (1-50)")
    ask.add_argument("--doc-id", action="append", help="restrict to a document (repeatable)")
    ask.add_argument("--outlet", action="append", help="restrict to an outlet (repeatable)")
    ask.add_argument("--from", dest="published_from", type=_date, help="published on/after")
    ask.add_argument("--to", dest="published_to", type=_date, help="published on/before")
    ask.add_argument("--generator", help="override RAG_GENERATOR for this question")
    ask.set_defaults(func=cmd_ask)

    docs = sub.add_parser("documents", help="list the stored documents")
    docs.add_argument("--json", action="store_true")
    docs.set_defaults(func=cmd_documents)

    # `serve` (api) and `eval` (evals) sit above rag: they register themselves through
    # the `news_rag.commands` entry points, so this module never imports them.
    for command in entry_points(group=COMMANDS):
        command.load()(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `rag` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace, Settings], int] = args.func
    try:
        return func(args, get_settings())
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
