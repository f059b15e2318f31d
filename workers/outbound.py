"""The one outbound client: every connection a worker opens on a tenant's behalf goes through here.

HTTP (webhooks, Slack, http commands) uses requests on a keep-alive connection pool whose
connections are opened by `_PinnedConnection`: the host is resolved, every address checked against
the outbound policy (shared.outbound), and the socket connected to a checked address, never to
the name. TLS still verifies the certificate against the name. So a pooled client cannot be sent
to a private address by DNS rebinding, and a refused address fails the connection, not the save.
SFTP opens its socket with `open_socket`, under the same check. Proxies from the environment are
ignored: a proxy would make the check meaningless.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ProtocolError, ReadTimeoutError
from urllib3.util import connection as urllib3_connection

from shared.errors import InvalidInput
from shared.outbound import resolve_allowed

USER_AGENT = "Punctual/0.1"


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


class PinnedAdapter(HTTPAdapter):
    """A requests adapter whose pooled connections are opened under the outbound policy."""

    def __init__(self, allowlist: Iterable[str], pool_maxsize: int = 10) -> None:
        allowed = tuple(allowlist)
        plain = type("PinnedConnection", (_PinnedConnection,), {"allowlist": allowed})
        secure = type("PinnedHTTPSConnection", (_PinnedHTTPSConnection,), {"allowlist": allowed})
        self._pools = {
            "http": type("PinnedPool", (HTTPConnectionPool,), {"ConnectionCls": plain}),
            "https": type("PinnedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": secure}),
        }
        super().__init__(pool_connections=10, pool_maxsize=pool_maxsize, max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pools


def new_session(allowlist: Iterable[str], pool_maxsize: int = 10) -> requests.Session:
    """A requests Session whose every connection goes through the outbound policy."""
    session = requests.Session()
    session.trust_env = False  # no proxies or .netrc from the environment
    adapter = PinnedAdapter(allowlist, pool_maxsize)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


class ResponseTooLarge(Exception):
    """The answer passed the byte cap the caller set."""

    def __init__(self, cap: int) -> None:
        super().__init__(f"response larger than {cap} bytes")
        self.cap = cap


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: Mapping[str, str]
    body: bytes


class HttpClient:
    """One keep-alive session per thread (requests sessions are not shared across threads)."""

    def __init__(self, allowlist: Iterable[str]) -> None:
        self.allowlist = tuple(allowlist)
        self._local = threading.local()

    def session(self) -> requests.Session:
        """This thread's session, created on first use."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = new_session(self.allowlist)
        return session

    def request(self, method: str, url: str, *, headers: Mapping[str, str], timeout: tuple[float, float],
                max_bytes: int, data: bytes | None = None,
                params: Mapping[str, str | None] | None = None) -> Answer:
        """Send without redirects and read the whole answer within the read timeout and the byte cap.

        Raises OutboundRefused, ResponseTooLarge, or requests.RequestException (requests.Timeout when
        the whole answer did not arrive within timeout[1] seconds, however slowly it trickled).
        """
        session = self.session()
        request = requests.PreparedRequest()
        request.prepare(method=method, url=url, headers={**session.headers, **headers}, data=data, params=params)
        # The adapter directly: no cookies, hooks or redirects are wanted here, and Session.send's
        # bookkeeping is a third of the cost of a small POST on a keep-alive connection.
        response = session.get_adapter(url).send(request, stream=True, timeout=timeout)
        try:
            body = _read_within(response, time.monotonic() + timeout[1], max_bytes)
        except BaseException:
            response.close()  # a half-read connection is not put back in the pool
            raise
        return Answer(response.status_code, response.headers, body)


def _read_within(response: requests.Response, deadline: float, max_bytes: int) -> bytes:
    # The read timeout of requests is per recv(): a receiver trickling a byte every few seconds
    # would hold a sender forever. Each recv gets only what is left of one deadline for the whole answer.
    sock = getattr(getattr(response.raw, "connection", None), "sock", None)
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise requests.Timeout("the whole answer did not arrive within the read timeout")
        if sock is not None:
            sock.settimeout(remaining)
        try:
            chunk = response.raw.read1(65536, decode_content=True)  # what has arrived, not 64 KiB
        except (TimeoutError, ReadTimeoutError):
            raise requests.Timeout("the whole answer did not arrive within the read timeout") from None
        except (ProtocolError, OSError) as exc:
            raise requests.ConnectionError(str(exc)) from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise ResponseTooLarge(max_bytes)
        chunks.append(chunk)
