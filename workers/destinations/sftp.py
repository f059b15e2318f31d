"""SFTP destination: paramiko, a pinned host key (mismatch fails closed), upload to a temp name then rename."""

from __future__ import annotations

import base64
import io
import posixpath
import re
from typing import Any

import paramiko

from shared.settings import Settings
from workers.destinations.base import Artifact, DeliveryContext, DeliveryError, Receipt
from workers.outbound import HttpClient, OutboundRefused, open_socket
from workers.templating import local_time

DEFAULT_TEMPLATE = "{schedule}-{date}-{run}.{ext}"
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")
_KEY_CLASSES: tuple[type[paramiko.PKey], ...] = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


def _slug(value: str) -> str:
    return _UNSAFE.sub("-", value).strip("-.") or "x"


def remote_filename(delivery: DeliveryContext, artifact: Artifact) -> str:
    """The file name from the destination's template (pure); raises DeliveryError on an unknown field."""
    template = str(delivery.destination.get("filename_template") or DEFAULT_TEMPLATE)
    sub = delivery.subscriber
    if sub is not None and "{user}" not in template:
        # Per-subscriber files must not overwrite each other.
        stem, dot, ext = template.rpartition(".")
        template = f"{stem}-{{user}}.{ext}" if dot else f"{template}-{{user}}"
    zone = sub.timezone if sub else delivery.schedule_timezone
    when = local_time(delivery.scheduled_for, zone)
    fields = {
        "schedule": _slug(delivery.schedule_name), "date": when.strftime("%Y-%m-%d"),
        "time": when.strftime("%H%M%S"), "run": str(delivery.run_id)[:8],
        "ext": artifact.filename.rpartition(".")[2] or "bin",
        "user": _slug(sub.email) if sub else "all", "delivery": str(delivery.delivery_id)[:8],
    }
    try:
        name = template.format_map(fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise DeliveryError(f"sftp filename_template: {exc!r}", permanent=True) from None
    return _slug(name)


def parse_host_key(line: str) -> paramiko.PKey:
    """Parse a pinned "type base64" public key line; raises DeliveryError (permanent) when malformed."""
    parts = line.split()
    if len(parts) < 2:
        raise DeliveryError("sftp host_key must be 'type base64' (e.g. 'ssh-ed25519 AAAA...')", permanent=True)
    try:
        return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1]))
    except (ValueError, paramiko.SSHException, TypeError) as exc:
        raise DeliveryError(f"sftp host_key cannot be parsed: {exc}", permanent=True) from None


def load_private_key(text: str, passphrase: str | None = None) -> paramiko.PKey:
    """Load a PEM/OpenSSH private key of any supported type; raises DeliveryError (permanent)."""
    for cls in _KEY_CLASSES:
        try:
            return cls.from_private_key(io.StringIO(text), password=passphrase)
        except (paramiko.SSHException, ValueError):
            continue
    raise DeliveryError("sftp private_key cannot be loaded (unsupported or encrypted key)", permanent=True)


class SftpDestination:
    """Uploads artifacts over SFTP, one session per host for the batch; raises DeliveryError
    (host key, auth, permission: permanent)."""

    def __init__(self, settings: Settings, http: HttpClient) -> None:
        self.settings = settings
        self._sessions: dict[tuple[str, int, str, str], tuple[paramiko.Transport, paramiko.SFTPClient]] = {}

    def send(self, delivery: DeliveryContext, artifact: Artifact) -> Receipt:
        """Upload to a temp name, then rename; raises DeliveryError."""
        dest = delivery.destination
        expected = parse_host_key(str(dest.get("host_key", "")))
        name = remote_filename(delivery, artifact)
        directory = str(dest.get("directory") or "/")
        key = (str(dest.get("host", "")), int(dest.get("port") or 22), str(dest.get("username", "")),
               expected.get_base64())
        client = self._session(key, expected, delivery)
        try:
            final = posixpath.join(directory, name)
            temp = posixpath.join(directory, f".{name}.{str(delivery.delivery_id)[:8]}.part")
            # Written under a temporary name and renamed, so a reader never sees a partial file.
            with client.open(temp, "wb") as handle:
                handle.write(artifact.body)
            try:
                client.posix_rename(temp, final)
            except OSError:
                client.rename(temp, final)  # servers without the posix-rename extension
        except PermissionError as exc:
            raise DeliveryError(f"sftp permission denied: {exc}", permanent=True) from None
        except FileNotFoundError as exc:
            raise DeliveryError(f"sftp directory {directory!r} not found: {exc}", permanent=True) from None
        except (OSError, paramiko.SSHException, EOFError) as exc:
            self._drop(key)  # the session may be broken: the next file opens a new one
            raise DeliveryError(f"sftp upload: {type(exc).__name__}: {exc}") from None
        return Receipt(detail={"path": final})

    def _session(self, key: tuple[str, int, str, str], expected: paramiko.PKey,
                 delivery: DeliveryContext) -> paramiko.SFTPClient:
        if key in self._sessions:
            return self._sessions[key][1]
        host, port, username, _ = key
        try:
            sock = open_socket(host, port, self.settings.outbound_allowlist, self.settings.http_connect_timeout_s)
        except OutboundRefused as exc:
            raise DeliveryError(f"sftp {exc.detail}", permanent=True) from None
        except OSError as exc:
            raise DeliveryError(f"sftp connect: {exc}") from None
        transport = paramiko.Transport(sock)
        try:
            self._handshake(transport, expected)
            self._authenticate(transport, delivery.secrets, username)
            client = paramiko.SFTPClient.from_transport(transport)
            if client is None:
                raise DeliveryError("sftp subsystem unavailable")
        except (paramiko.SSHException, OSError, EOFError) as exc:
            transport.close()
            raise DeliveryError(f"sftp session: {type(exc).__name__}: {exc}") from None
        except DeliveryError:
            transport.close()
            raise
        self._sessions[key] = (transport, client)
        return client

    def _handshake(self, transport: paramiko.Transport, expected: paramiko.PKey) -> None:
        # Offer only the pinned key's algorithm, so a server with several host keys shows that one.
        options = transport.get_security_options()
        wanted = [k for k in options.key_types if k == expected.get_name()
                  or (expected.get_name() == "ssh-rsa" and k.startswith("rsa-sha2"))]
        if wanted:
            options.key_types = wanted
        try:
            transport.start_client(timeout=self.settings.http_connect_timeout_s)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise DeliveryError(f"sftp handshake: {exc}") from None
        actual = transport.get_remote_server_key()
        if actual.get_name() != expected.get_name() or actual.asbytes() != expected.asbytes():
            # Fail closed and never learn the new key: a changed host key needs a human.
            raise DeliveryError(f"sftp host key mismatch: server offered {actual.get_name()} "
                                f"{actual.get_base64()[:24]}...", permanent=True)

    def _authenticate(self, transport: paramiko.Transport, secrets: dict[str, Any], username: str) -> None:
        try:
            if secrets.get("private_key"):
                key = load_private_key(str(secrets["private_key"]), secrets.get("passphrase"))
                transport.auth_publickey(username, key)
            elif secrets.get("password"):
                transport.auth_password(username, str(secrets["password"]))
            else:
                raise DeliveryError("sftp destination has neither password nor private_key", permanent=True)
        except paramiko.AuthenticationException as exc:
            raise DeliveryError(f"sftp login refused for {username!r}: {exc}", permanent=True) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise DeliveryError(f"sftp login: {exc}") from None

    def _drop(self, key: tuple[str, int, str, str]) -> None:
        transport, client = self._sessions.pop(key, (None, None))
        for closable in (client, transport):
            try:
                if closable is not None:
                    closable.close()
            except Exception:  # noqa: S110 - closing a broken session: nothing left to do
                pass

    def close(self) -> None:
        """Close every session the batch opened."""
        for key in list(self._sessions):
            self._drop(key)
