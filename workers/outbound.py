"""The one outbound client: every connection a worker opens on a tenant's behalf goes through here.

HTTP (webhooks, Slack, message gateways, http commands) goes through `HttpClient`: keep-alive
connections kept per thread, each opened by `open_socket`: the host is resolved, every address
checked against the outbound policy (shared.outbound), and the socket connected to a checked
address, never to the name. TLS still verifies the certificate against the name. So a kept
connection cannot be sent to a private address by DNS rebinding, and a refused address fails the
connection, not the save. SFTP opens its socket with `open_socket` too. Proxies from the
environment are ignored: a proxy would make the check meaningless.

The requests go out on the standard library's http.client, not through requests or urllib3
(requests' transport): a small POST on a keep-alive connection costs about 650 µs of CPU through
requests' Session, about 300 µs through urllib3's pool and response layers and about 130 µs
through http.client here, and at a thousand deliveries a second on two cores that difference is a
core's worth (bench/delivery_bench.py). What urllib3 added that we use is here: a connection the
server closed while idle is not reused, one deadline for the whole answer, a byte cap, and gzip
or deflate decoding, capped like the body.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from urllib3 import HTTPHeaderDict

from shared.errors import InvalidInput
from shared.outbound import resolve_allowed

USER_AGENT = "Punctual/0.1"
READ_BYTES = 65536


class OutboundRefused(Exception):
    """The outbound policy refused the address a connection was about to reach (never retried)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def open_socket(host: str, port: int, allowlist: Iterable[str], timeout: float, *,
                field: str = "host") -> socket.socket:
    """A TCP socket to host:port connected to an address the policy allows; raises OutboundRefused or OSError
    (TimeoutError when connecting took longer than `timeout`)."""
    try:
        addresses = resolve_allowed(host, port, allowlist, field=field)
    except InvalidInput as exc:
        raise OutboundRefused(exc.detail) from None
    error: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            error = exc
    raise error or OSError(f"cannot connect to {host}:{port}")


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


def _pinned(connection: http.client.HTTPConnection, allowlist: tuple[str, ...]) -> http.client.HTTPConnection:
    # http.client connects through this attribute (socket.create_connection by default); HTTPS then
    # wraps the socket and verifies the certificate against the URL's name.
    def connect(address: tuple[str, int], timeout: float, source_address: Any = None) -> socket.socket:
        return open_socket(address[0], address[1], allowlist, timeout, field="url")
    connection._create_connection = connect  # type: ignore[attr-defined]
    return connection


class HttpClient:
    """The process's keep-alive HTTP client: thread-safe, each thread keeping its own connections
    (up to `maxsize` servers, the least recently used closed past that)."""

    def __init__(self, allowlist: Iterable[str], maxsize: int = 16) -> None:
        self.allowlist = tuple(allowlist)
        self.maxsize = max(1, maxsize)
        self._tls = ssl.create_default_context()
        self._local = threading.local()

    def request(self, method: str, url: str, *, headers: Mapping[str, str], timeout: tuple[float, float],
                max_bytes: int, data: bytes | None = None,
                params: Mapping[str, str | None] | None = None) -> Answer:
        """Send without redirects and read the whole answer within the read timeout and the byte cap.

        Raises OutboundRefused, ResponseTooLarge, OutboundTimeout when connecting took longer than
        timeout[0] or the whole answer did not arrive within timeout[1] seconds (however slowly it
        trickled), or OutboundError.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OutboundError(f"not an http(s) URL: {url!r}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise OutboundError(f"invalid port in {url!r}") from None
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if params:
            query = urlencode({k: v for k, v in params.items() if v is not None})
            target = f"{target}{'&' if '?' in target else '?'}{query}"
        connection = self._checkout((parts.scheme, parts.hostname, port), timeout[0])
        stage = "connect"
        try:
            if connection.sock is None:
                connection.connect()
            stage, sock = "read", connection.sock
            deadline = time.monotonic() + timeout[1]
            sock.settimeout(timeout[1])  # the send too: a receiver that stops reading
            connection.request(method, target, body=data, headers={"User-Agent": USER_AGENT, **headers})
            response = connection.getresponse()
            body = _read_within(response, sock, deadline, max_bytes)
        except BaseException as exc:
            connection.close()  # a half-read connection is not kept
            raise _outbound_error(exc, stage, timeout) from None
        # A response that says it closes has closed the socket already; the next request reconnects.
        return Answer(response.status, HTTPHeaderDict(response.getheaders()), body)

    def _checkout(self, key: tuple[str, str, int], connect_timeout: float) -> http.client.HTTPConnection:
        kept: OrderedDict[tuple[str, str, int], http.client.HTTPConnection] | None = getattr(self._local, "kept", None)
        if kept is None:
            kept = self._local.kept = OrderedDict()
        connection = kept.get(key)
        if connection is None:
            scheme, host, port = key
            connection = _pinned(http.client.HTTPSConnection(host, port, context=self._tls) if scheme == "https"
                                 else http.client.HTTPConnection(host, port), self.allowlist)
            kept[key] = connection
            while len(kept) > self.maxsize:
                kept.popitem(last=False)[1].close()
        kept.move_to_end(key)
        connection.timeout = connect_timeout
        sock = connection.sock
        # Idle, a kept connection has nothing to read unless the server closed it (or sent junk): then
        # it is not reused, since a request on it would fail with nothing sent.
        if sock is not None and select.select([sock], [], [], 0)[0]:
            connection.close()
        return connection


def _outbound_error(exc: BaseException, stage: str, timeout: tuple[float, float]) -> BaseException:
    # Ours (OutboundRefused, ResponseTooLarge, OutboundError) and anything not a transport error (a task's
    # soft time limit, an interrupt) pass unchanged.
    if isinstance(exc, (OutboundRefused, OutboundError, ResponseTooLarge)) or not isinstance(exc, Exception):
        return exc
    if isinstance(exc, TimeoutError):
        if stage == "connect":
            return OutboundTimeout(f"ConnectTimeoutError: no connection within {timeout[0]:g} s")
        return OutboundTimeout("the whole answer did not arrive within the read timeout")
    if isinstance(exc, (OSError, http.client.HTTPException, ValueError, zlib.error)):
        return OutboundError(f"{type(exc).__name__}: {exc}")
    return exc


def _read_within(response: http.client.HTTPResponse, sock: socket.socket, deadline: float, max_bytes: int) -> bytes:
    # A socket timeout is per recv(): a receiver trickling a byte every few seconds would hold a
    # sender for ever. Each recv gets only what is left of one deadline for the whole answer.
    decoder = _decoder(response.getheader("Content-Encoding"))
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise OutboundTimeout("the whole answer did not arrive within the read timeout")
        sock.settimeout(remaining)
        chunk = response.read1(READ_BYTES)  # what has arrived, not 64 KiB
        if decoder is not None:
            # Decoded at most up to the cap: a small compressed answer must not inflate past it in memory.
            chunk = decoder.decompress(chunk, max_bytes + 1 - size) if chunk else decoder.flush()
        if not chunk:
            response.close()  # done with: the connection is idle again (its socket stays open for keep-alive)
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise ResponseTooLarge(max_bytes)
        chunks.append(chunk)


def _decoder(encoding: str | None) -> Any:
    value = (encoding or "").strip().lower()
    if value in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if value == "deflate":
        return zlib.decompressobj()
    return None
