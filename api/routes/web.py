"""`GET /`: the web page (plain HTML, CSS and JS from `api/static/`, no build step).

Left out: server-side rendering and a front-end framework; the page is one static file
and a script that inserts everything as text.
"""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)


@router.api_route("/", methods=["GET", "HEAD"])
def index() -> FileResponse:
    """The question page."""
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


@router.api_route("/favicon.ico", methods=["GET", "HEAD"])
def favicon() -> FileResponse:
    """The page's icon, for browsers that ask for it by the old name."""
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")
