"""Refuse and record every network connection that is not to the loopback interface.

Installed for the whole test session (see `conftest.py`) and, through the
`sitecustomize.py` beside this file, in every server subprocess the tests start.
Attempts are recorded even when the calling library swallows the error, so a test
can assert that none happened.
"""

import ipaddress
import os
import socket
from typing import Any

ATTEMPTS: list[str] = []
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


class NetworkBlocked(OSError):
    """Raised instead of a connection to a non-loopback address."""


def is_loopback(host: Any) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host).strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(address: Any, family: int) -> None:
    if family not in (socket.AF_INET, socket.AF_INET6):
        return  # unix sockets and the like never leave the machine
    host = address[0] if isinstance(address, tuple) else address
    if not is_loopback(host):
        record = f"connect {host}:{address[1] if isinstance(address, tuple) else ''}"
        ATTEMPTS.append(record)
        _log(record)
        raise NetworkBlocked(f"test network guard: blocked {record}")


def _log(record: str) -> None:
    path = os.environ.get("RAG_NETGUARD_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(record + "\n")


def _connect(self: socket.socket, address: Any) -> None:
    _check(address, self.family)
    _real_connect(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    _check(address, self.family)
    return _real_connect_ex(self, address)


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not is_loopback(host):
        record = f"resolve {host}"
        ATTEMPTS.append(record)
        _log(record)
        raise NetworkBlocked(f"test network guard: blocked {record}")
    return _real_getaddrinfo(host, *args, **kwargs)


def install() -> None:
    """Patch the socket module for this process."""
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _getaddrinfo
