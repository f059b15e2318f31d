"""Outbound policy: what Punctual may connect to on a tenant's behalf.

Destinations, http commands and tenants' data sources may not reach private, loopback,
link-local or otherwise non-public addresses unless the operator allows the host or network in
PUNCTUAL_OUTBOUND_ALLOWLIST. The check is made on the addresses a name resolves to, and the
caller connects to exactly those addresses (never resolving the name again), so a name cannot
resolve to something else between the check and the connect (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from shared.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), or None (pure)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    packed = int(ip)
    if any(ip in net for net in _NAT64) or (ip in _IPV4_COMPATIBLE and packed > 1):
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """Whether an address is globally routable, judging an IPv6 form by the IPv4 address it embeds (pure)."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        return inner.is_global and not inner.is_multicast
    return ip.is_global and not ip.is_multicast


def _networks(allowlist: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for entry in allowlist:
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            continue
    return networks


def allowed_addresses(host: str, addresses: Iterable[str], allowlist: Iterable[str]) -> bool:
    """Whether every address may be reached: public, or the host or the address is allowlisted (pure)."""
    entries = list(allowlist)
    if host.lower().strip("[]") in {e.lower().strip("[]") for e in entries}:
        return True
    networks = _networks(entries)
    for text in addresses:
        ip = ipaddress.ip_address(text)
        if is_public(ip):
            continue
        inner = embedded_ipv4(ip)
        if not any(ip in n or (inner is not None and inner in n) for n in networks):
            return False
    return True


def resolve_allowed(host: str, port: int, allowlist: Iterable[str], *, field: str = "host") -> list[str]:
    """Resolve host and return its addresses if policy allows them all; raises InvalidInput.

    Connect to one of the returned addresses, not to the name: that is what makes the check hold.
    """
    bare = host.strip("[]")
    try:
        addresses = [str(ipaddress.ip_address(bare))]
    except ValueError:
        try:
            infos = socket.getaddrinfo(bare, port, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError, OSError):
            raise InvalidInput(f"{field}: host {host} cannot be resolved") from None
        addresses = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
    if not addresses or not allowed_addresses(bare, addresses, allowlist):
        raise InvalidInput(
            f"{field}: host {host} resolves to a private or loopback address; "
            "add it to PUNCTUAL_OUTBOUND_ALLOWLIST to allow it"
        )
    return addresses


def check_url(url: str, allowlist: Iterable[str], *, field: str = "url", resolve: bool = True) -> str:
    """Return url if it is http(s) and reaches only public hosts or allowlisted ones; raises InvalidInput."""
    parts = urlsplit(url)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise InvalidInput(f"{field}: must be an http or https URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput(f"{field}: must be an http or https URL")
    if parts.username or parts.password:
        raise InvalidInput(f"{field}: credentials in the URL are not allowed")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not resolve:
            return url
    resolve_allowed(host, port or (443 if parts.scheme == "https" else 80), allowlist, field=field)
    return url
