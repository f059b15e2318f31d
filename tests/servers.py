"""Real servers on 127.0.0.1, each on a free port: HTTP sink (webhooks, commands), SMTP, SFTP."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    connection: int = 0  # which TCP connection it came on (the client's port): keep-alive shows as reuse


Responder = Callable[[ReceivedRequest, int], tuple[int, dict[str, str], bytes]]


def always_ok(request: ReceivedRequest, index: int) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, b'{"ok": true}'


@dataclass
class HttpSink:
    """An HTTP server that records every request and answers with `responder`."""

    responder: Responder = always_ok
    requests: list[ReceivedRequest] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> HttpSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.1 keep-alive like a real receiver; the answer goes out in one write, without
            # Nagle's delay, so a keep-alive client is not held ~40 ms per request.
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            wbufsize = -1

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = ReceivedRequest(self.command, self.path, dict(self.headers.items()), body,
                                          self.client_address[1])
                with sink.lock:
                    sink.requests.append(request)
                    index = len(sink.requests) - 1
                status, headers, payload = sink.responder(request, index)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return

        # A real receiver's listen backlog (nginx: 511), not socketserver's 5: dozens of senders
        # connecting at once would otherwise see resets, as they would from an overloaded server.
        server_class = type("Server", (ThreadingHTTPServer,), {"request_queue_size": 512})
        self.server = server_class(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    session: int = 0  # which SMTP connection it came on: connection reuse shows as a repeated value


@dataclass
class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free port that records every message it accepts."""

    messages: list[ReceivedMail] = field(default_factory=list)
    sessions: int = 0  # SMTP connections that carried a message
    port: int = 0
    controller: Any = None
    tls_context: Any = None  # ssl.SSLContext: offer STARTTLS and require it
    login: tuple[str, str] | None = None  # require AUTH with these credentials

    def start(self) -> SmtpSink:
        from aiosmtpd.controller import Controller

        from api.embedded import free_port

        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                if not hasattr(session, "punctual_no"):
                    sink.sessions += 1
                    session.punctual_no = sink.sessions
                sink.messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                                                  session.punctual_no))
                return "250 Message accepted for delivery"

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
            from aiosmtpd.smtp import AuthResult

            ok = self.login is not None and (data.login.decode(), data.password.decode()) == self.login
            return AuthResult(success=ok)

        extra: dict[str, Any] = {}
        if self.tls_context is not None:
            extra.update(tls_context=self.tls_context, require_starttls=True)
        if self.login is not None:
            extra.update(authenticator=authenticate, auth_required=True,
                         auth_require_tls=self.tls_context is not None)
        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **extra)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()


@dataclass
class SftpServer:
    """A real SFTP server (paramiko's server side) on a free port, serving `root`; logs renames."""

    root: Any  # pathlib.Path
    username: str = "punctual"
    password: str = "s3cret-password"
    authorized_key: Any = None  # paramiko.PKey a client may log in with
    host_key: Any = None  # paramiko.PKey; generated when None
    operations: list[tuple[str, str, str]] = field(default_factory=list)
    port: int = 0
    listener: Any = None
    connections: int = 0  # TCP connections accepted: one SFTP session per batch shows as few

    @property
    def host_key_line(self) -> str:
        return f"{self.host_key.get_name()} {self.host_key.get_base64()}"

    def start(self) -> SftpServer:
        import socket

        import paramiko

        if self.host_key is None:
            self.host_key = paramiko.ECDSAKey.generate()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        import paramiko

        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # stopped
            self.connections += 1
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.host_key)
            transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _sftp_interface(self))
            try:
                transport.start_server(server=_ssh_auth(self))
            except (paramiko.SSHException, EOFError, OSError):
                transport.close()

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.close()


def _ssh_auth(server: SftpServer) -> Any:
    import paramiko

    class Auth(paramiko.ServerInterface):
        def get_allowed_auths(self, username: str) -> str:
            return "password,publickey"

        def check_auth_password(self, username: str, password: str) -> int:
            ok = username == server.username and password == server.password
            return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

        def check_auth_publickey(self, username: str, key: Any) -> int:
            ok = (username == server.username and server.authorized_key is not None
                  and key.asbytes() == server.authorized_key.asbytes())
            return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

        def check_channel_request(self, kind: str, chanid: int) -> int:
            ok = kind == "session"
            return paramiko.OPEN_SUCCEEDED if ok else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    return Auth()


def _sftp_interface(server: SftpServer) -> Any:
    import os

    import paramiko

    def local(path: str) -> str:
        # Every remote path is confined to the server's root directory.
        full = os.path.realpath(os.path.join(server.root, path.lstrip("/")))
        if not full.startswith(os.path.realpath(server.root)):
            raise PermissionError(path)
        return full

    def fail(exc: OSError) -> int:
        return int(paramiko.SFTPServer.convert_errno(exc.errno or 1))

    class Handle(paramiko.SFTPHandle):
        def stat(self) -> Any:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))

    class Interface(paramiko.SFTPServerInterface):
        def open(self, path: str, flags: int, attr: Any) -> Any:
            try:
                fd = os.open(local(path), flags | getattr(os, "O_BINARY", 0), 0o644)
            except OSError as exc:
                return fail(exc)
            writable = flags & (os.O_WRONLY | os.O_RDWR)
            mode = ("ab" if flags & os.O_APPEND else "r+b" if flags & os.O_RDWR else "wb") if writable else "rb"
            handle = Handle(flags)
            handle.readfile = handle.writefile = os.fdopen(fd, mode)
            server.operations.append(("open", path, ""))
            return handle

        def stat(self, path: str) -> Any:
            try:
                return paramiko.SFTPAttributes.from_stat(os.stat(local(path)))
            except OSError as exc:
                return fail(exc)

        lstat = stat

        def list_folder(self, path: str) -> Any:
            try:
                folder = local(path)
                return [paramiko.SFTPAttributes.from_stat(os.stat(os.path.join(folder, n)), n)
                        for n in os.listdir(folder)]
            except OSError as exc:
                return fail(exc)

        def posix_rename(self, oldpath: str, newpath: str) -> int:
            try:
                os.replace(local(oldpath), local(newpath))
            except OSError as exc:
                return fail(exc)
            server.operations.append(("rename", oldpath, newpath))
            return paramiko.SFTP_OK

        def rename(self, oldpath: str, newpath: str) -> int:
            if os.path.exists(local(newpath)):
                return paramiko.SFTP_FAILURE
            return self.posix_rename(oldpath, newpath)

        def remove(self, path: str) -> int:
            try:
                os.remove(local(path))
            except OSError as exc:
                return fail(exc)
            return paramiko.SFTP_OK

        def mkdir(self, path: str, attr: Any) -> int:
            try:
                os.mkdir(local(path))
            except OSError as exc:
                return fail(exc)
            return paramiko.SFTP_OK

        def chattr(self, path: str, attr: Any) -> int:
            return paramiko.SFTP_OK

    return Interface


@dataclass
class TrickleServer:
    """An HTTP server that answers 200 but sends its body one byte every `interval_s` (a slowloris receiver)."""

    interval_s: float = 0.3
    length: int = 100
    port: int = 0
    listener: Any = None
    requests: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TrickleServer:
        import socket

        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: Any) -> None:
        import time

        try:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            self.requests += 1
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         + f"Content-Length: {self.length}\r\n\r\n".encode())
            for _ in range(self.length):
                time.sleep(self.interval_s)
                conn.sendall(b" ")
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.close()
