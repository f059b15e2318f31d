"""Outbound URL policy: destinations may not reach private or loopback addresses unless allowed."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from shared.errors import InvalidInput


def _allowed(host: str, addresses: Iterable[str], allowlist: Iterable[str]) -> bool:
    entries = list(allowlist)
    if host.lower() in {e.lower() for e in entries}:
        return True
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    return all(any(ipaddress.ip_address(a) in n for n in networks) for a in addresses)


def check_url(url: str, allowlist: Iterable[str], *, field: str = "url", resolve: bool = True) -> str:
    """Return url if it is http(s) and reaches only public hosts or allowlisted ones; raises InvalidInput."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"{field}: must be an http or https URL")
    if parts.username or parts.password:
        raise InvalidInput(f"{field}: credentials in the URL are not allowed")
    host = parts.hostname
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        if not resolve:
            return url
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError):
            raise InvalidInput(f"{field}: host {host} cannot be resolved") from None
        addresses = sorted({str(info[4][0]) for info in infos})
    private = [a for a in addresses if not ipaddress.ip_address(a).is_global]
    if private and not _allowed(host, addresses, allowlist):
        raise InvalidInput(
            f"{field}: host {host} resolves to a private or loopback address; "
            "add it to PUNCTUAL_OUTBOUND_ALLOWLIST to allow it"
        )
    return url
