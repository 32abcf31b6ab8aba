"""The `rag` command: ingest, ask, documents, serve, eval.

Errors from `rag.errors` become a one-line message on stderr and an exit code, here
and nowhere else (see `EXIT_CODES`).
"""

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path

from rag.config import Settings, get_settings
from rag.errors import BackendUnavailable, ConfigError, InvalidInput, NotFound, RagError

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


def _service(settings: Settings):  # type: ignore[no-untyped-def]
    from rag.service import RagService

    return RagService(settings)


def _progress(items: Sequence[Path], description: str) -> Iterable[Path]:
    from rich.console import Console
    from rich.progress import track

    return track(items, description=description, console=Console(stderr=True), transient=True)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    folder = Path(args.path) if args.path else settings.seeds_dir
    report = _service(settings).ingest_folder(folder, prune=args.prune, track=_progress)
    if args.json:
        skipped = [{"file": f, "reason": r} for f, r in report.skipped]
        out = {**report.counts(), "chunks_written": report.chunks_written, "skipped_files": skipped}
        print(json.dumps(out))
    else:
        for name, reason in report.skipped:
            print(f"skipped {name}: {reason}", file=sys.stderr)
        counts = ", ".join(f"{v} {k}" for k, v in report.counts().items())
        print(f"{counts} ({report.chunks_written} chunks written)")
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from rag.index.retrieve import Filters
    from rag.schema import answer_dict

    service = _service(settings)
    filters = Filters(
        doc_ids=tuple(args.doc_id) if args.doc_id else None,
        published_from=args.published_from,
        published_to=args.published_to,
    )
    generator = service.make_generator(args.generator) if args.generator else None
    answer = service.ask(args.question, top_k=args.top_k, filters=filters, generator=generator)
    if args.json:
        print(json.dumps(answer_dict(answer), ensure_ascii=False, indent=2))
        return 0
    print(answer.answer)
    for c in answer.citations:
        when = c.published.isoformat() if c.published else "date unknown"
        flag = "" if c.supported else "  (unsupported)"
        print(f"\n[{c.n}] {c.title} — {c.outlet or 'outlet unknown'}, {when}{flag}")
        print(f"    {c.doc_id} chars {c.char_start}-{c.char_end}: “{c.quote}”")
    return 0


def cmd_documents(args: argparse.Namespace, settings: Settings) -> int:
    from rag.schema import document_dict

    docs = _service(settings).documents()
    if args.json:
        print(json.dumps([document_dict(d) for d in docs], ensure_ascii=False, indent=2))
        return 0
    if not docs:
        print("no documents; run `rag ingest`")
    for d in docs:
        when = d.published.isoformat() if d.published else "----------"
        print(f"{d.doc_id}  {when}  {d.chunk_count:3d} chunks  {d.outlet or '-'}  {d.title}")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    if args.workers < 1:
        raise InvalidInput("--workers must be at least 1")

    def run() -> None:
        # Limits of the HTTP server itself (README, "Limits"); api.server names the protocol.
        uvicorn.run(
            "api.main:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level="info",
            http="api.server:BoundedH11Protocol",
            h11_max_incomplete_event_size=settings.max_header_bytes,
            timeout_keep_alive=settings.keep_alive_s,
            timeout_graceful_shutdown=settings.shutdown_timeout_s,
            limit_concurrency=settings.max_connections,
        )

    if args.workers == 1 or settings.chroma_host:
        run()
        return 0
    # Several processes share the local folder through one Chroma server (chroma_server.py).
    from rag.index.chroma_server import ChromaServer

    log = settings.data_dir / "chroma-server.log"
    with ChromaServer(settings.chroma_path, log=log) as chroma:
        # uvicorn spawns the workers, which read their `Settings` from this environment.
        os.environ.update(chroma.env())
        print(f"Chroma server for {settings.chroma_path} on {chroma.url} (log: {log}); "
              f"to write while serving, set RAG_CHROMA_HOST={chroma.host} "
              f"RAG_CHROMA_PORT={chroma.port}", file=sys.stderr)  # fmt: skip
        run()
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    # The benchmark lives in evals/, which uses rag/; imported only for this command.
    from evals.run import DEFAULT_OUT
    from evals.run import main as run_eval

    floors = {
        key: value
        for key, value in (
            ("cited_accuracy", args.min_cited_accuracy),
            ("refusal_accuracy", args.min_refusal_accuracy),
            ("unanswerable_refused", args.min_unanswerable_refused),
        )
        if value is not None
    }
    return run_eval(
        _service(settings),
        corpus=args.corpus,
        split=args.split,
        floors=floors,
        questions_file=Path(args.questions) if args.questions else None,
        out=Path(args.out) if args.out else DEFAULT_OUT,
        generator=args.generator,
        top_k=args.top_k,
        baseline_file=Path(args.baseline) if args.baseline else None,
        min_accuracy=args.min_accuracy,
        judge=args.judge,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="ingest a folder of .txt/.md articles")
    ingest.add_argument("path", nargs="?", help="folder (default: RAG_SEEDS_DIR, seeds/)")
    ingest.add_argument("--prune", action="store_true", help="remove documents whose file is gone")
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")
    ingest.set_defaults(func=cmd_ingest)

    ask = sub.add_parser("ask", help="answer a question with citations")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the full answer object")
    ask.add_argument("--top-k", type=int, default=None, help="passages to retrieve (1-50)")
    ask.add_argument("--doc-id", action="append", help="restrict to a document (repeatable)")
    ask.add_argument("--from", dest="published_from", type=_date, help="published on/after")
    ask.add_argument("--to", dest="published_to", type=_date, help="published on/before")
    ask.add_argument("--generator", help="override RAG_GENERATOR for this question")
    ask.set_defaults(func=cmd_ask)

    docs = sub.add_parser("documents", help="list the stored documents")
    docs.add_argument("--json", action="store_true")
    docs.set_defaults(func=cmd_documents)

    ev = sub.add_parser("eval", help="score answers to a question file (evals/README.md)")
    ev.add_argument("--corpus", default="seeds", help="seeds (default) or bbc (evals/README.md)")
    ev.add_argument("--split", choices=("dev", "test"), help="only these questions (default all)")
    ev.add_argument("--questions", help="JSON Lines file (default: the corpus's question file)")
    ev.add_argument("--generator", help="extractive, openai or local (default: RAG_GENERATOR)")
    ev.add_argument("--top-k", type=int, default=None)
    ev.add_argument("--out", help="folder for results.json and report.md (evals/runs/latest)")
    ev.add_argument("--baseline", help="an earlier results.json to compare with")
    ev.add_argument("--min-accuracy", type=float, help="exit 1 if answer_accuracy is below")
    ev.add_argument("--min-cited-accuracy", type=float, help="exit 1 if cited_accuracy is below")
    ev.add_argument(
        "--min-refusal-accuracy", type=float, help="exit 1 if refusal_accuracy is below"
    )
    ev.add_argument(
        "--min-unanswerable-refused",
        type=float,
        help="exit 1 if the share of unanswerable questions refused is below",
    )
    ev.add_argument("--judge", action="store_true", help="add an LLM-judge faithfulness count")
    ev.set_defaults(func=cmd_eval)

    serve = sub.add_parser("serve", help="serve the HTTP API and web page")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes (default 1); more than 1 shares the local index through a Chroma "
        "server that `rag serve` starts, unless RAG_CHROMA_HOST names one",
    )
    serve.set_defaults(func=cmd_serve)
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
