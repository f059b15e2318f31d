"""The one outbound client against a real HTTP server: every connection it opens passes the outbound policy
on the addresses it is about to connect to, whatever the URL looked like when it was saved."""

from __future__ import annotations

import gzip
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from api.embedded import free_port
from shared.outbound import check_url
from shared.settings import Settings
from tests.servers import HttpSink, ReceivedRequest, SftpServer
from workers.destinations.base import Artifact, DeliveryContext, DeliveryError
from workers.destinations.sftp import SftpDestination
from workers.outbound import (
    HttpClient,
    OutboundError,
    OutboundRefused,
    OutboundTimeout,
    Outgoing,
    ResponseTooLarge,
    open_socket,
)

TIMEOUT = (2.0, 5.0)


def _post(client: HttpClient, url: str) -> int:
    return client.request("POST", url, headers={}, data=b"{}", timeout=TIMEOUT, max_bytes=1024).status_code


def test_a_name_that_resolves_to_loopback_is_refused_on_the_connection(http_sink: HttpSink) -> None:
    url = f"http://localhost:{http_sink.server.server_address[1]}/hook"  # type: ignore[union-attr]
    check_url(url, [], resolve=False)  # its form is fine: only the connection knows where it goes

    with pytest.raises(OutboundRefused, match="private or loopback"):
        _post(HttpClient([]), url)
    assert http_sink.requests == []
    assert _post(HttpClient(["127.0.0.1", "::1"]), url) == 200  # allowed by address, as the operator said
    assert http_sink.requests[0].headers["Host"].startswith("localhost:")


@pytest.mark.parametrize("host", ["127.0.0.1", "[::ffff:127.0.0.1]", "[::1]"])
def test_loopback_in_any_spelling_is_refused(http_sink: HttpSink, host: str) -> None:
    port = http_sink.server.server_address[1]  # type: ignore[union-attr]
    with pytest.raises(OutboundRefused):
        _post(HttpClient([]), f"http://{host}:{port}/hook")
    with pytest.raises(OutboundRefused):
        open_socket(host.strip("[]"), port, [], timeout=2)
    assert http_sink.requests == []


def test_connections_are_kept_alive_and_each_new_one_is_checked(http_sink: HttpSink) -> None:
    client = HttpClient(["127.0.0.1"])
    for _ in range(20):
        assert _post(client, f"{http_sink.url}/hook") == 200
    assert len(Counter(r.connection for r in http_sink.requests)) == 1  # one keep-alive connection

    strict = HttpClient([])  # the same server, a client whose policy refuses it: no pooled way around
    with pytest.raises(OutboundRefused):
        _post(strict, f"{http_sink.url}/hook")
    assert len(http_sink.requests) == 20


def test_sftp_to_a_private_host_is_refused_alike_for_open_and_closed_ports(base_settings: Settings,
                                                                           sftp_server: SftpServer) -> None:
    # Were the error to differ, SFTP destinations would be a port scanner of the internal network.
    strict = replace(base_settings, outbound_allowlist=())
    artifact = Artifact("text/plain", "a.txt", b"hello")
    errors = []
    for port in (sftp_server.port, free_port()):
        ctx = DeliveryContext(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "Weekly", datetime.now(UTC), 1,
                              {"host": "localhost", "port": port, "username": sftp_server.username,
                               "host_key": sftp_server.host_key_line, "directory": "/"},
                              {"password": sftp_server.password})
        destination = SftpDestination(strict, HttpClient([]))
        with pytest.raises(DeliveryError) as info:
            destination.send(ctx, artifact)
        destination.close()
        assert info.value.permanent
        errors.append(info.value.message.replace(str(port), "PORT"))
    assert errors[0] == errors[1] and "private or loopback" in errors[0]
    assert list(sftp_server.root.iterdir()) == [] and sftp_server.operations == []


def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    # A receiver that answers, then drops the idle keep-alive connection without saying so (a load
    # balancer's idle timeout): the next POST must go out on a new connection, not fail on the dead one.
    listener = socket.create_server(("127.0.0.1", 0))
    connections: list[int] = []

    def serve() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            connections.append(conn.getpeername()[1])
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            time.sleep(0.1)
            conn.close()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    client = HttpClient(["127.0.0.1"])
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    assert _post(client, url) == 200
    time.sleep(0.4)  # the server has closed it by now
    assert _post(client, url) == 200
    server.join(timeout=5)
    listener.close()
    assert len(set(connections)) == 2


def test_a_compressed_answer_is_decoded_and_capped_decoded(http_sink: HttpSink) -> None:
    plain = b'{"rows": [' + b"1, " * 2000 + b"1]}"
    http_sink.responder = lambda request, index: (200, {"Content-Type": "application/json",
                                                        "Content-Encoding": "gzip"}, gzip.compress(plain))
    client = HttpClient(["127.0.0.1"])
    answer = client.request("GET", f"{http_sink.url}/report", headers={}, timeout=TIMEOUT, max_bytes=len(plain))
    assert answer.body == plain and answer.headers["content-type"] == "application/json"
    # A few hundred bytes on the wire that inflate past the cap are refused, not inflated into memory.
    with pytest.raises(ResponseTooLarge):
        client.request("GET", f"{http_sink.url}/report", headers={}, timeout=TIMEOUT, max_bytes=len(plain) - 1)


class RawServer:
    """A loopback server that answers each request on a connection with the next of `answers`, verbatim,
    and closes the connection after an answer marked close (True, or that many seconds later); it records
    what it received per connection."""

    def __init__(self, answers: list[tuple[bytes, bool | float]]) -> None:
        self.answers = list(answers)
        self.received: list[list[bytes]] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            requests: list[bytes] = []
            self.received.append(requests)
            with conn:
                while self.answers:
                    request = conn.recv(65536)
                    if not request:
                        break
                    requests.append(request)
                    answer, close = self.answers.pop(0)
                    conn.sendall(answer)
                    if close is not False:
                        time.sleep(float(close))
                        break

    def close(self) -> None:
        self.listener.close()


def test_an_interim_answer_is_skipped_and_the_final_one_kept() -> None:
    server = RawServer([(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                         b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-Id: 7\r\n\r\nok", False)])
    answer = HttpClient(["127.0.0.1"]).request("POST", server.url, headers={}, data=b"{}", timeout=TIMEOUT,
                                               max_bytes=1024)
    server.close()
    assert (answer.status_code, answer.body, answer.headers.get("x-id"), "Link" in answer.headers) == \
        (201, b"ok", "7", False)


def test_an_answer_without_a_length_ends_where_the_server_closes_and_the_connection_is_not_reused() -> None:
    server = RawServer([(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it", True),
                        (b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnext", True),
                        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nthird", False)])
    client = HttpClient(["127.0.0.1"])
    bodies = [_body(client, server.url) for _ in range(3)]
    server.close()
    assert bodies == [b"all of it", b"next", b"third"]
    assert [len(requests) for requests in server.received] == [1, 1, 1]  # a new connection each time


def _body(client: HttpClient, url: str) -> bytes:
    return client.request("POST", url, headers={}, data=b"{}", timeout=TIMEOUT, max_bytes=1024).body


def test_a_header_with_a_line_break_is_refused_before_anything_is_sent(http_sink: HttpSink) -> None:
    client = HttpClient(["127.0.0.1"])
    with pytest.raises(OutboundError, match="invalid header"):
        client.request("GET", f"{http_sink.url}/report", headers={"X-Token": "a\r\nX-Admin: 1"}, timeout=TIMEOUT,
                       max_bytes=1024)
    with pytest.raises(OutboundError, match="invalid header"):
        client.request("GET", f"{http_sink.url}/report", headers={"X Token": "a"}, timeout=TIMEOUT, max_bytes=1024)
    assert http_sink.requests == []
    # The caller's headers go as given, but the framing is the client's: its Content-Length, not the caller's.
    client.request("POST", f"{http_sink.url}/hook", headers={"X-Token": "a", "Content-Length": "99"}, data=b"{}",
                   timeout=TIMEOUT, max_bytes=1024)
    assert (http_sink.requests[0].headers["X-Token"], http_sink.requests[0].headers["Content-Length"],
            http_sink.requests[0].body) == ("a", "2", b"{}")


def test_an_answer_that_is_not_http_or_stops_short_is_an_error_and_the_connection_is_dropped() -> None:
    server = RawServer([(b"SSH-2.0-OpenSSH_9.2\r\n", True),
                        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", True),
                        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", False)])
    client = HttpClient(["127.0.0.1"])
    with pytest.raises(OutboundError, match="not valid HTTP"):
        _body(client, server.url)
    with pytest.raises(OutboundError, match="closed the connection before the answer was complete"):
        _body(client, server.url)
    assert _body(client, server.url) == b"ok"
    server.close()


def test_an_answer_trickling_past_the_read_timeout_is_cut_off() -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
            for _ in range(100):
                try:
                    conn.sendall(b"x")
                except OSError:
                    return
                time.sleep(0.1)

    threading.Thread(target=trickle, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(OutboundTimeout):
        HttpClient(["127.0.0.1"]).request("POST", f"http://127.0.0.1:{listener.getsockname()[1]}/", headers={},
                                          data=b"{}", timeout=(2.0, 1.0), max_bytes=1024)
    assert time.monotonic() - started < 2.5  # each byte came within the timeout; the whole answer did not
    listener.close()


def _outgoing(url: str, n: int, timeout: tuple[float, float] = TIMEOUT) -> list[Outgoing]:
    return [Outgoing("POST", url, {"X-N": str(i)}, f'{{"n": {i}}}'.encode(), timeout, 1024) for i in range(n)]


def test_a_batch_goes_out_together_at_most_concurrency_at_once_on_kept_connections(http_sink: HttpSink) -> None:
    lock, in_flight, most = threading.Lock(), [0], [0]

    def slow(request: ReceivedRequest, index: int) -> tuple[int, dict[str, str], bytes]:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.05)
        with lock:
            in_flight[0] -= 1
        return 200, {"X-Echo": request.headers["X-N"]}, request.body

    http_sink.responder = slow
    client = HttpClient(["127.0.0.1"])
    started = time.monotonic()
    first = client.send_all(_outgoing(f"{http_sink.url}/hook", 40), concurrency=8)
    elapsed = time.monotonic() - started
    second = client.send_all(_outgoing(f"{http_sink.url}/hook", 40), concurrency=8)
    assert [(o.error, o.answer.status_code, o.answer.headers["x-echo"], o.answer.body) for o in first] == \
        [(None, 200, str(i), f'{{"n": {i}}}'.encode()) for i in range(40)]  # each answer to its own request
    assert all(o.answer is not None and o.answer.status_code == 200 for o in second)
    assert most[0] == 8  # together, and never more than asked
    assert elapsed < 40 * 0.05 / 2  # not one after another
    # The second batch reused the first's connections: 8 in all, not 8 more.
    assert len({r.connection for r in http_sink.requests}) == 8


def test_in_a_batch_each_request_gets_its_own_outcome_and_each_new_connection_is_checked(http_sink: HttpSink) -> None:
    listener = socket.create_server(("127.0.0.1", 0))  # accepts, reads, never answers
    silent = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    ok = f"{http_sink.url}/hook"
    client = HttpClient(["127.0.0.1"])
    batch = [*_outgoing(ok, 2), Outgoing("POST", silent, {}, b"{}", (2.0, 0.5), 1024),
             Outgoing("POST", "http://10.0.0.1/hook", {}, b"{}", TIMEOUT, 1024), *_outgoing(ok, 2)]
    outcomes = client.send_all(batch, concurrency=4)
    listener.close()
    assert [o.answer.status_code if o.answer else type(o.error).__name__ for o in outcomes] == \
        [200, 200, "OutboundTimeout", "OutboundRefused", 200, 200]
    assert 0.5 <= outcomes[2].elapsed_s < 1.5
    # A client whose policy refuses the sink opens no connection to it, batch or not.
    refused = HttpClient([]).send_all(_outgoing(ok, 3), concurrency=2)
    assert [type(o.error) for o in refused] == [OutboundRefused] * 3
    assert len(http_sink.requests) == 4


def test_a_batch_does_not_reuse_a_connection_the_server_closed_while_it_sat_idle() -> None:
    server = RawServer([(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0.1),
                        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", True)])
    client = HttpClient(["127.0.0.1"])
    first = client.send_all(_outgoing(server.url, 1), concurrency=1)
    time.sleep(0.3)  # closed by the server between the batches, unseen: no loop runs between them
    second = client.send_all(_outgoing(server.url, 1), concurrency=1)
    server.close()
    assert [o.answer.body if o.answer else o.error for o in first + second] == [b"ok", b"ok"]
    assert len(server.received) == 2
