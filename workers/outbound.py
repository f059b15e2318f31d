"""The one outbound client: every connection a worker opens on a tenant's behalf goes through here.

HTTP (webhooks, Slack, http commands) goes through one urllib3 keep-alive pool per process whose
connections are opened by `_PinnedConnection`: the host is resolved, every address checked
against the outbound policy (shared.outbound), and the socket connected to a checked address,
never to the name. TLS still verifies the certificate against the name. So a pooled client cannot
be sent to a private address by DNS rebinding, and a refused address fails the connection, not
the save. SFTP opens its socket with `open_socket`, under the same check. Proxies from the
environment are ignored: a proxy would make the check meaningless.

urllib3 is used directly, not through requests (whose transport it is): a small POST on a
keep-alive connection costs about 650 µs of CPU through requests' Session, Response and cookie
layers and about 370 µs through urllib3 here, and at a thousand deliveries a second on two cores
that is the difference between meeting the target and not (bench/delivery_bench.py).
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, ProtocolError, ReadTimeoutError
from urllib3.util import connection as urllib3_connection

from shared.errors import InvalidInput
from shared.outbound import resolve_allowed

USER_AGENT = "Punctual/0.1"
ONE_WRITE_BYTES = 64 * 1024


class OutboundRefused(Exception):
    """The outbound policy refused the address a connection was about to reach (never retried)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def open_socket(host: str, port: int, allowlist: Iterable[str], timeout: float) -> socket.socket:
    """A TCP socket to host:port connected to an address the policy allows; raises OutboundRefused or OSError."""
    try:
        addresses = resolve_allowed(host, port, allowlist, field="host")
    except InvalidInput as exc:
        raise OutboundRefused(exc.detail) from None
    error: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            error = exc
    raise error or OSError(f"cannot connect to {host}:{port}")


class _PinnedConnection(HTTPConnection):
    allowlist: tuple[str, ...] = ()
    _one_write_body: bytes | None = None

    def request(self, method: str, url: str, body: Any = None, headers: Any = None, **kwargs: Any) -> None:
        # urllib3 writes the header block and a body in two send() calls; a small webhook body goes
        # out with its headers in one (a write on loopback costs as much as the rest of the request).
        if isinstance(body, bytes) and len(body) <= ONE_WRITE_BYTES:
            headers = {**(headers or {}), "Content-Length": str(len(body))}
            self._one_write_body, body = body, None
        super().request(method, url, body=body, headers=headers, **kwargs)

    def send(self, data: Any) -> None:
        body = self._one_write_body
        if body is not None and isinstance(data, bytes) and data.endswith(b"\r\n\r\n"):
            self._one_write_body, data = None, data + body
        super().send(data)

    def _new_conn(self) -> socket.socket:
        # Replaces urllib3's resolve-and-connect: the same name lookup, then the policy, then a
        # connect to the address that passed (see urllib3.connection.HTTPConnection._new_conn).
        try:
            addresses = resolve_allowed(self._dns_host, self.port, self.allowlist, field="url")
        except InvalidInput as exc:
            raise OutboundRefused(exc.detail) from None
        last: Exception | None = None
        for address in addresses:
            try:
                sock = urllib3_connection.create_connection(
                    (address, self.port), self.timeout, source_address=self.source_address,
                    socket_options=self.socket_options)
            except TimeoutError as exc:
                last = ConnectTimeoutError(self, f"Connection to {self.host} timed out. "
                                                 f"(connect timeout={self.timeout})")
                last.__cause__ = exc
                continue
            except OSError as exc:
                last = NewConnectionError(self, f"Failed to establish a new connection: {exc}")
                continue
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        assert last is not None
        raise last


class _PinnedHTTPSConnection(_PinnedConnection, HTTPSConnection):
    pass


def pinned_pool_manager(allowlist: Iterable[str], maxsize: int) -> urllib3.PoolManager:
    """A urllib3 PoolManager whose every connection is opened under the outbound policy."""
    allowed = tuple(allowlist)
    plain = type("PinnedConnection", (_PinnedConnection,), {"allowlist": allowed})
    secure = type("PinnedHTTPSConnection", (_PinnedHTTPSConnection,), {"allowlist": allowed})
    # block=False: a burst past maxsize opens extra connections (each checked) rather than waiting.
    manager = urllib3.PoolManager(num_pools=100, maxsize=maxsize, block=False, retries=False)
    manager.pool_classes_by_scheme = {
        "http": type("PinnedPool", (HTTPConnectionPool,), {"ConnectionCls": plain}),
        "https": type("PinnedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": secure}),
    }
    return manager


class OutboundError(Exception):
    """The request did not get an answer: refused, reset, timed out, or a broken answer (worth retrying)."""


class OutboundTimeout(OutboundError):
    """Connecting, or receiving the whole answer, took longer than allowed."""


class ResponseTooLarge(Exception):
    """The answer passed the byte cap the caller set."""

    def __init__(self, cap: int) -> None:
        super().__init__(f"response larger than {cap} bytes")
        self.cap = cap


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: Mapping[str, str]  # case-insensitive
    body: bytes


class HttpClient:
    """The process's keep-alive HTTP client (thread-safe: urllib3's pools are)."""

    def __init__(self, allowlist: Iterable[str], maxsize: int = 16) -> None:
        self.allowlist = tuple(allowlist)
        self.pool = pinned_pool_manager(self.allowlist, maxsize)

    def request(self, method: str, url: str, *, headers: Mapping[str, str], timeout: tuple[float, float],
                max_bytes: int, data: bytes | None = None,
                params: Mapping[str, str | None] | None = None) -> Answer:
        """Send without redirects and read the whole answer within the read timeout and the byte cap.

        Raises OutboundRefused, ResponseTooLarge, OutboundTimeout when the whole answer did not
        arrive within timeout[1] seconds (however slowly it trickled), or OutboundError.
        """
        if params:
            query = urlencode({k: v for k, v in params.items() if v is not None})
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        try:
            response = self.pool.urlopen(
                method, url, body=data, headers={"User-Agent": USER_AGENT, **headers}, redirect=False,
                retries=False, preload_content=False,
                timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]))
        except (ConnectTimeoutError, ReadTimeoutError) as exc:
            raise OutboundTimeout(f"{type(exc).__name__}: {exc}") from None
        except HTTPError as exc:
            raise OutboundError(f"{type(exc).__name__}: {exc}") from None
        try:
            body = _read_within(response, time.monotonic() + timeout[1], max_bytes)
        except BaseException:
            response.close()  # a half-read connection is not put back in the pool
            raise
        response.release_conn()
        return Answer(response.status, response.headers, body)


def _read_within(response: urllib3.BaseHTTPResponse, deadline: float, max_bytes: int) -> bytes:
    # A read timeout is per recv(): a receiver trickling a byte every few seconds would hold a
    # sender for ever. Each recv gets only what is left of one deadline for the whole answer.
    sock = getattr(getattr(response, "connection", None), "sock", None)
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise OutboundTimeout("the whole answer did not arrive within the read timeout")
        if sock is not None:
            sock.settimeout(remaining)
        try:
            chunk = response.read1(65536, decode_content=True)  # what has arrived, not 64 KiB
        except (TimeoutError, ReadTimeoutError):
            raise OutboundTimeout("the whole answer did not arrive within the read timeout") from None
        except (HTTPError, ProtocolError, OSError) as exc:
            raise OutboundError(f"{type(exc).__name__}: {exc}") from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise ResponseTooLarge(max_bytes)
        chunks.append(chunk)
