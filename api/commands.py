"""`rag serve`: the HTTP API and web page, a sub-command of `rag` (entry point).

Registered through the `news_rag.commands` entry point, so `rag.cli` never imports
the api package.
"""

import argparse
import os
import sys
from typing import Any

from rag.config import Settings
from rag.errors import InvalidInput


def add_serve(sub: Any) -> None:
    """Add `serve` to the `rag` command's sub-parsers."""
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
