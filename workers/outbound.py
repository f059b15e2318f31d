"""The one outbound client: every connection a worker opens on a tenant's behalf goes through here.

HTTP (webhooks, Slack, message gateways, http commands) goes through `HttpClient`: keep-alive
connections kept per thread, each opened by `open_socket`: the host is resolved, every address
checked against the outbound policy (shared.outbound), and the socket connected to a checked
address, never to the name. TLS still verifies the certificate against the name. So a kept
connection cannot be sent to a private address by DNS rebinding, and a refused address fails the
connection, not the save. SFTP opens its socket with `open_socket` too. Proxies from the
environment are ignored: a proxy would make the check meaningless.

Requests go out on the thread's asyncio event loop: a batch's POSTs together (send_all), a single
request as a batch of one. Each is written in one piece and its answer parsed by httptools
(llhttp, Node's parser, as used by uvicorn) as it arrives. A small POST on a kept connection
costs about 40 µs of CPU here, against about 130 µs through http.client (whose header parsing is
the email package), about 300 µs through urllib3 and about 650 µs through requests: at a
thousand deliveries a second on two cores, the difference is most of a core
(bench/delivery_bench.py).
What the client guarantees: a connection the server closed while idle is not reused, one
deadline for the whole answer, a byte cap, gzip or deflate decoded under the cap, and
interim (1xx) answers skipped.
"""

from __future__ import annotations

import asyncio
import functools
import re
import select
import socket
import ssl
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode, urlsplit

import httptools

from shared.errors import InvalidInput
from shared.outbound import resolve_allowed

USER_AGENT = "Punctual/0.1"


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


class Headers(Mapping[str, str]):
    """An answer's headers as received, looked up case-insensitively; a repeated header's values are
    joined with ", " (RFC 9110 5.3). Indexed on first lookup: most answers are never asked."""

    __slots__ = ("_by_name", "_raw")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._by_name: dict[str, tuple[str, str]] | None = None

    def _index(self) -> dict[str, tuple[str, str]]:
        if self._by_name is None:
            by_name: dict[str, tuple[str, str]] = {}
            for raw_name, raw_value in self._raw:
                name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
                seen = by_name.get(name.lower())
                by_name[name.lower()] = (seen[0], f"{seen[1]}, {value}") if seen else (name, value)
            self._by_name = by_name
        return self._by_name

    def __getitem__(self, name: str) -> str:
        return self._index()[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return iter([name for name, _ in self._index().values()])

    def __len__(self) -> int:
        return len(self._index())


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: Mapping[str, str]  # case-insensitive
    body: bytes


@dataclass(frozen=True)
class Outgoing:
    """One request of a batch sent together (HttpClient.send_all)."""
    method: str
    url: str
    headers: Mapping[str, str]
    data: bytes | None
    timeout: tuple[float, float]  # connect, whole answer
    max_bytes: int


@dataclass(frozen=True)
class Outcome:
    """What one request of a batch got: an answer, or the error request() would have raised."""
    answer: Answer | None
    error: BaseException | None  # OutboundRefused, ResponseTooLarge, OutboundError (OutboundTimeout)
    elapsed_s: float


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")   # none in a header value (no CR/LF: no header injection)
_TARGET_BAD = re.compile(r"[\x00-\x20\x7f]")  # none in the request target either
_FRAMING = frozenset({"host", "content-length", "transfer-encoding", "connection"})  # set here, not by callers


@dataclass(frozen=True)
class _Url:
    scheme: str
    host: str
    port: int
    target: str
    host_header: str


@lru_cache(maxsize=1024)
def _parse_url(url: str) -> _Url:
    # Every delivery of a batch goes to the same few URLs: parsed and checked once, not once per send.
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundError(f"not an http(s) URL: {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise OutboundError(f"invalid port in {url!r}") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname
    if _TARGET_BAD.search(target) or _TARGET_BAD.search(host):
        raise OutboundError("the URL has control characters or spaces")  # not shown: a Slack URL is a secret
    shown = f"[{host}]" if ":" in host else host
    default = 443 if parts.scheme == "https" else 80
    return _Url(parts.scheme, host, port, target, shown if port == default else f"{shown}:{port}")


def _head(method: str, target: str, host_header: str, headers: Mapping[str, str], length: int | None) -> bytes:
    # The caller's headers go as given, replacing the defaults of the same name; the framing is ours.
    defaults = {"user-agent": f"User-Agent: {USER_AGENT}", "accept-encoding": "Accept-Encoding: identity"}
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host_header}"]
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name) or _CONTROL.search(value):
            raise ValueError(f"invalid header {name!r}")
        low = name.lower()
        if low in defaults:
            defaults[low] = f"{name}: {value}"
        elif low not in _FRAMING:
            lines.append(f"{name}: {value}")
    lines += defaults.values()
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


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
        """Send a GET or POST without redirects and read the whole answer within the read timeout and the
        byte cap: a batch of one (send_all), on the same kept connections.

        Raises OutboundRefused, ResponseTooLarge, OutboundTimeout when connecting took longer than
        timeout[0] or the whole answer did not arrive within timeout[1] seconds (however slowly it
        trickled), or OutboundError.
        """
        if params:
            query = urlencode({k: v for k, v in params.items() if v is not None})
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        outcome = self.send_all([Outgoing(method, url, headers, data, timeout, max_bytes)], 1)[0]
        if outcome.error is not None:
            raise outcome.error
        assert outcome.answer is not None
        return outcome.answer

    def send_all(self, requests: Sequence[Outgoing], concurrency: int) -> list[Outcome]:
        """Send requests together from this thread: up to `concurrency` in flight on the thread's event loop,
        each on a kept connection or a new one opened (and checked) by `open_socket`. Answers are read,
        capped and timed as request() reads them; an error is that request's outcome, never raised.

        One thread multiplexing its sockets, not a thread per send: on two cores, handing the GIL
        between sender threads on every read and write cost more than the sends themselves.
        """
        loop: asyncio.AbstractEventLoop | None = getattr(self._local, "loop", None)
        if loop is None:
            loop = self._local.loop = asyncio.new_event_loop()
        return loop.run_until_complete(self._send_all(requests, max(1, concurrency)))

    async def _send_all(self, requests: Sequence[Outgoing], concurrency: int) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(requests)
        queue = iter(range(len(requests)))

        async def sender() -> None:
            # `concurrency` senders take the requests in turn from one iterator: each exactly once, and no
            # task or lock per request.
            for index in queue:
                outcomes[index] = await self._send_one(requests[index])

        await asyncio.gather(*(sender() for _ in range(min(concurrency, len(requests)))))
        return [o for o in outcomes if o is not None]

    async def _send_one(self, out: Outgoing) -> Outcome:
        started = time.monotonic()
        stage, link = "connect", None
        try:
            where = _parse_url(out.url)
            length = len(out.data) if out.data is not None else (0 if out.method == "POST" else None)
            if out.method not in ("GET", "POST"):
                raise OutboundError(f"unsupported method {out.method!r}")
            head = _head(out.method, where.target, where.host_header, out.headers, length)
            key = (where.scheme, where.host, where.port)
            link = self._idle_link(key)
            if link is None:
                link = await asyncio.wait_for(self._open_link(key, out.timeout[0]), out.timeout[0])
            stage = "read"
            async with asyncio.timeout(out.timeout[1]):  # the whole answer, however slowly it trickles
                reading = await link.exchange(head + out.data if out.data else head, out.max_bytes)
        except Exception as exc:
            if link is not None:
                link.close()  # a half-read connection is not kept
            return Outcome(None, _outbound_error(exc, stage, out.timeout), time.monotonic() - started)
        if reading.keep_alive and reading.framed and not link.broken:
            self._give_back(key, link)
        else:
            link.close()
        answer = Answer(reading.status, Headers(reading.headers), b"".join(reading.chunks))
        return Outcome(answer, None, time.monotonic() - started)

    def _links(self) -> OrderedDict[tuple[str, str, int], list[_Link]]:
        links: OrderedDict[tuple[str, str, int], list[_Link]] | None = getattr(self._local, "links", None)
        if links is None:
            links = self._local.links = OrderedDict()
        return links

    def _idle_link(self, key: tuple[str, str, int]) -> _Link | None:
        idle = self._links().get(key) or []
        while idle:
            link = idle.pop()
            # A close the server sent while the link sat idle is seen once the loop polls its sockets;
            # asked of the socket too, as request() asks, so that reuse never hangs on when that was.
            if not link.broken and not select.select([link.fileno()], [], [], 0)[0]:
                return link
            link.close()
        return None

    async def _open_link(self, key: tuple[str, str, int], connect_timeout: float) -> _Link:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        # The name resolved and every address checked, then connected, in a helper thread: the one
        # blocking step, taken only for a new connection.
        sock = await loop.run_in_executor(None, functools.partial(open_socket, host, port, self.allowlist,
                                                                  connect_timeout, field="url"))
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            tls = scheme == "https"
            _, link = await loop.create_connection(
                _Link, sock=sock, ssl=self._tls if tls else None, server_hostname=host if tls else None,
                ssl_handshake_timeout=connect_timeout if tls else None)  # verified against the name
        except BaseException:
            sock.close()
            raise
        return link

    def _give_back(self, key: tuple[str, str, int], link: _Link) -> None:
        links = self._links()
        idle = links.setdefault(key, [])
        idle.append(link)
        links.move_to_end(key)
        while len(idle) > self.maxsize:
            idle.pop(0).close()
        while len(links) > self.maxsize:
            for old in links.popitem(last=False)[1]:
                old.close()


class _Reading:
    """httptools' callbacks for one answer: status, headers and the body, decoded and capped."""

    def __init__(self, max_bytes: int) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.max_bytes = max_bytes
        self.complete = False
        self.keep_alive = False
        self._start()

    def _start(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.decoder: Any = None
        self.framed = False     # Content-Length or chunked: the end is known without the server closing
        self.too_large = False  # callbacks do not raise (httptools would wrap it): checked after each feed

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        names = {name.lower(): value for name, value in self.headers}
        self.framed = b"content-length" in names or b"transfer-encoding" in names
        self.decoder = _decoder(names.get(b"content-encoding", b"").decode("latin-1"))

    def on_body(self, body: bytes) -> None:
        if self.decoder is not None:
            # Decoded at most up to the cap: a small compressed answer must not inflate past it in memory.
            body = self.decoder.decompress(body, self.max_bytes + 1 - self.size)
        self._keep(body)

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200:
            self._start()  # an interim answer (103 Early Hints): the real one follows on the same parser
            return
        self.keep_alive = self.parser.should_keep_alive()  # only valid until the message ends
        self.finish()

    def finish(self) -> None:
        if self.decoder is not None and not self.too_large:
            self._keep(self.decoder.flush())
        self.complete = True

    def _keep(self, body: bytes) -> None:
        if self.too_large or not body:
            return
        self.size += len(body)
        if self.size > self.max_bytes:
            self.too_large = True
            self.chunks = []
            return
        self.chunks.append(body)


class _Link(asyncio.Protocol):
    """One keep-alive connection on a thread's event loop, reading one answer at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reading: _Reading | None = None
        self.waiter: asyncio.Future[_Reading] | None = None
        self.broken = False  # closed, or sent something unasked: never reused

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def fileno(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("socket").fileno())

    async def exchange(self, request: bytes, max_bytes: int) -> _Reading:
        """Write a request and wait for its whole answer; raises OutboundError or ResponseTooLarge."""
        assert self.transport is not None
        self.reading = _Reading(max_bytes)
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            self.transport.write(request)
            return await self.waiter
        finally:
            self.reading = self.waiter = None

    def data_received(self, data: bytes) -> None:
        reading, waiter = self.reading, self.waiter
        if reading is None or waiter is None or waiter.done():
            self.broken = True
            return
        try:
            reading.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            if not reading.complete:
                self._fail(OutboundError("the answer is not valid HTTP"))
                return
            reading.keep_alive = False  # junk after the answer: the connection is not reused
        if reading.too_large:
            self._fail(ResponseTooLarge(reading.max_bytes))
        elif reading.complete:
            waiter.set_result(reading)

    def eof_received(self) -> bool:
        reading, waiter = self.reading, self.waiter
        self.broken = True
        if reading is not None and waiter is not None and not waiter.done():
            if reading.status and not reading.framed:
                reading.finish()  # an answer without a length ends where the server closes
                waiter.set_result(reading)
            else:
                self._fail(OutboundError("the server closed the connection before the answer was complete"))
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.broken = True
        if self.waiter is not None and not self.waiter.done():
            self._fail(OutboundError(f"{type(exc).__name__}: {exc}" if exc else
                                     "the server closed the connection before the answer was complete"))

    def _fail(self, error: BaseException) -> None:
        self.broken = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)

    def close(self) -> None:
        self.broken = True
        if self.transport is not None:
            self.transport.close()


def _outbound_error(exc: BaseException, stage: str, timeout: tuple[float, float]) -> BaseException:
    # Ours (OutboundRefused, ResponseTooLarge, OutboundError) and anything not a transport error (a task's
    # soft time limit, an interrupt) pass unchanged.
    if isinstance(exc, (OutboundRefused, OutboundError, ResponseTooLarge)) or not isinstance(exc, Exception):
        return exc
    if isinstance(exc, TimeoutError):
        if stage == "connect":
            return OutboundTimeout(f"ConnectTimeoutError: no connection within {timeout[0]:g} s")
        return OutboundTimeout("the whole answer did not arrive within the read timeout")
    if isinstance(exc, (OSError, ValueError, zlib.error)):
        return OutboundError(f"{type(exc).__name__}: {exc}")
    return exc


def _decoder(encoding: str) -> Any:
    value = encoding.strip().lower()
    if value in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if value == "deflate":
        return zlib.decompressobj()
    return None
