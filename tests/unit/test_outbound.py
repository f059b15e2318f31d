"""The outbound policy on addresses: private forms hidden inside IPv6 are private too."""

from __future__ import annotations

import pytest

from shared.errors import InvalidInput
from shared.outbound import allowed_addresses, check_url, embedded_ipv4, resolve_allowed


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.0.0.8", "172.16.5.5", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "::1", "::", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
    "::127.0.0.1", "::10.1.2.3",  # IPv4-compatible
    "64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b:1::a00:1",  # NAT64 of loopback and 10/8
    "2002:7f00:1::", "2002:a00:1::1",  # 6to4 of loopback and 10/8
    "224.0.0.1", "ff02::1",
])
def test_private_addresses_in_any_form_are_refused(address: str) -> None:
    assert not allowed_addresses(address, [address], [])
    with pytest.raises(InvalidInput, match="private or loopback"):
        resolve_allowed(address, 80, [])
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(InvalidInput, match="private or loopback"):
        check_url(f"http://{host}/hook", [])


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1"])
def test_public_addresses_pass(address: str) -> None:
    assert allowed_addresses(address, [address], [])
    assert resolve_allowed(address, 443, []) == [address]


def test_the_allowlist_admits_a_network_and_the_ipv6_forms_of_its_addresses() -> None:
    assert allowed_addresses("::ffff:127.0.0.1", ["::ffff:127.0.0.1"], ["127.0.0.0/8"])
    assert allowed_addresses("64:ff9b::a00:1", ["64:ff9b::a00:1"], ["10.0.0.0/8"])
    assert not allowed_addresses("10.0.0.1", ["10.0.0.1"], ["192.168.0.0/16"])
    assert allowed_addresses("db.internal", ["10.0.0.1"], ["db.internal"])


def test_embedded_ipv4_reads_each_form() -> None:
    import ipaddress

    def inner(text: str) -> str | None:
        found = embedded_ipv4(ipaddress.ip_address(text))
        return str(found) if found else None

    assert inner("::ffff:1.2.3.4") == "1.2.3.4"
    assert inner("::1.2.3.4") == "1.2.3.4"
    assert inner("64:ff9b::102:304") == "1.2.3.4"
    assert inner("2002:102:304::") == "1.2.3.4"
    assert inner("2606:4700::1") is None and inner("::1") is None and inner("1.2.3.4") is None


def test_urls_other_than_http_or_with_credentials_are_refused() -> None:
    for url, expected in (("ftp://example.com/x", "must be an http or https URL"),
                          ("http://user:pw@8.8.8.8/x", "credentials in the URL"),
                          ("http://8.8.8.8:99999/x", "must be an http or https URL")):
        with pytest.raises(InvalidInput, match=expected):
            check_url(url, [])
