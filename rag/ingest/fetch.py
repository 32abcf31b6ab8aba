"""Fetch articles by URL (`rag ingest URL...`, `--urls FILE`) and read them as HTML pages.

httpx with a timeout, a bounded number of redirects, a size cap read as the body
streams in, and only `http`/`https` (checked on every redirect too, so a page cannot
send the fetcher to `file:` or another scheme). The page goes through the same HTML
reader as a saved file (`rag.ingest.formats.parse_html`); its URL is kept as metadata.
With `allow_private=False` (the HTTP API's default) every hop must resolve to public
addresses only, so the server cannot be made to read its own network (loopback, private,
link-local such as a cloud metadata address). Left out: robots.txt, JavaScript rendering,
cookies, authentication, and a host whose DNS answer changes between the check and the
connection (pin the address with a proxy where that matters).
"""

import hashlib
import ipaddress
import socket
from urllib.parse import urlsplit

import httpx

from rag.config import Settings
from rag.errors import InvalidInput
from rag.ingest.formats import parse_html
from rag.schema import Article

SCHEMES = ("http", "https")
USER_AGENT = "news-rag/0.1 (+ingest)"


def url_doc_id(url: str) -> str:
    """A stable document id for a URL (the same URL is the same document)."""
    return "url_" + hashlib.sha256(url.encode()).hexdigest()[:16]


def _check_scheme(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        raise InvalidInput(f"{url}: only http and https URLs are fetched, not {scheme or '?'}:")


def _check_public(url: str) -> None:
    """Refuse a URL whose host is, or resolves to, an address that is not public."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise InvalidInput(f"{url}: the host {host!r} could not be resolved") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            raise InvalidInput(
                f"{url}: {host} is a loopback, private or link-local address, which the "
                "server does not fetch from (RAG_API_FETCH_PRIVATE)"
            )


def fetch(url: str, settings: Settings, *, allow_private: bool = True) -> tuple[bytes, str]:
    """The body of a page (at most `RAG_MAX_FETCH_BYTES`) and the URL it was served from."""
    try:
        _check_scheme(url)
        httpx.URL(url)  # a control character or a broken host is refused before any hop
    except (httpx.InvalidURL, ValueError) as exc:  # urllib and httpx raise these, not HTTPError
        raise InvalidInput(f"{url!r}: not a valid URL ({exc})") from None

    def on_request(request: httpx.Request) -> None:  # every hop, the first one included
        _check_scheme(str(request.url))
        if not allow_private:  # resolved here once per hop, before httpx connects
            _check_public(str(request.url))

    try:
        with (
            httpx.Client(
                timeout=settings.fetch_timeout_s,
                follow_redirects=True,
                max_redirects=settings.fetch_max_redirects,
                headers={"User-Agent": USER_AGENT},
                event_hooks={"request": [on_request]},
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                raise InvalidInput(f"{url}: the server answered HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > settings.max_fetch_bytes:
                    raise InvalidInput(
                        f"{url}: the page is over {settings.max_fetch_bytes} bytes "
                        "(RAG_MAX_FETCH_BYTES)"
                    )
            return bytes(body), str(response.url)
    except httpx.TooManyRedirects:
        raise InvalidInput(f"{url}: more than {settings.fetch_max_redirects} redirects") from None
    except httpx.TimeoutException:
        raise InvalidInput(
            f"{url}: no answer within {settings.fetch_timeout_s:g} s (RAG_FETCH_TIMEOUT_S)"
        ) from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:  # InvalidURL: a redirect's Location
        raise InvalidInput(f"{url}: could not fetch it ({type(exc).__name__})") from None


def fetch_article(url: str, settings: Settings, *, allow_private: bool = True) -> Article:
    """Fetch a page and read it as an article whose `url` is the address it came from."""
    raw, final_url = fetch(url, settings, allow_private=allow_private)
    return parse_html(raw, url_doc_id(url), name=url, source=url, url=final_url)
