"""The SSRF guard: which addresses an https:// input may be fetched from.

The host is resolved and *every* address is checked: loopback, private, link-local,
metadata, multicast, reserved, and their IPv6 (and IPv4-mapped) forms are refused unless
F5_ALLOW_PRIVATE_URLS=1; cloud metadata and link-local addresses always. The caller connects
to the address returned here (no second DNS lookup to rebind) and checks every redirect again.
"""

from __future__ import annotations

import ipaddress
import socket

from f5_runtime.errors import InputError

# Instance-metadata endpoints (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba): never fetched.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")  # not in is_private before Python 3.12.4


def address_refusal(address: str, *, allow_private: bool) -> str | None:
    """Why a connection to `address` is refused, or None when it is allowed."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified or ip.is_multicast:
        return "an unspecified or multicast address"
    if allow_private:
        return None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_private or (ip.version == 4 and ip in CGNAT):
        return "a private address"
    if ip.is_reserved or not ip.is_global:
        return "a reserved or non-public address"
    return None


def resolve_checked(host: str, port: int, *, allow_private: bool) -> str:
    """Resolve `host`, refuse it if any address is not allowed, return the address to use."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        reason = address_refusal(address, allow_private=allow_private)
        if reason:
            hint = "" if "metadata" in reason or "link-local" in reason else (
                " (private deployments: F5_ALLOW_PRIVATE_URLS=1)"
            )
            raise InputError(f"refusing to fetch from {host!r}: it resolves to {reason}{hint}")
    return addresses[0]
