"""The SSRF guard: which addresses an https:// input may be fetched from.

The host is resolved and *every* address is checked: loopback, private, link-local,
metadata, multicast, reserved, site-local, and their IPv6 forms (an IPv6 address carrying an
IPv4 one: mapped, compatible, 6to4, Teredo, NAT64, judged by that one too) are refused unless
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
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known NAT64 prefix: the IPv4 address inside
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d form


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and routes to: IPv4-mapped (::ffff:a.b.c.d),
    IPv4-compatible (::a.b.c.d), 6to4 (2002::/16), Teredo's client (2001::/32) and NAT64
    (64:ff9b::/96); None for an ordinary IPv6 address."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64 or (ip in IPV4_COMPATIBLE and int(ip) > 1):  # not :: and ::1 themselves
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def address_refusal(address: str, *, allow_private: bool) -> str | None:
    """Why a connection to `address` is refused, or None when it is allowed. An IPv6 address
    that carries an IPv4 one is judged by both (the IPv4 one first: that is where it goes)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and (inner := embedded_ipv4(ip)) is not None:
        reason = address_refusal(str(inner), allow_private=allow_private)
        if reason is not None or ip.ipv4_mapped is not None or ip in NAT64:  # pure translations
            return reason and f"{reason} ({inner} inside {ip})"
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
    if ip.version == 6 and ip.is_site_local:  # fec0::/10: deprecated, private by intent
        return "a site-local address"
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
