"""Where pictures may come from: connections to public addresses only, unless the config names the host.

The address checked is the address connected to: PublicAddressesOnly resolves each name once, at connect
time, and hands the socket layer the checked address, never the name, so that no second lookup can
answer otherwise (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore

from mirrord.connections import LoopBackend, LoopStream


class AddressRefused(Exception):
    """A picture's host is at no address pictures may come from."""

    def __init__(self, host: str, refused: list[tuple[str, str]]):
        address, kind = refused[0]
        where = f"{host} is" if host == address else f"{host} is at {address},"
        super().__init__(f"{where} a {kind} address: pictures are fetched from public addresses only "
                         f"(add {host} to image_hosts if its pictures are meant to be mirrored)")


class PublicAddressesOnly(LoopBackend):
    """The network backend of picture requests: resolves each host once and connects to the checked addresses.

    A host in image_hosts may be at any address; any other is connected to at its public addresses only,
    and refused (AddressRefused) when it has none.
    """

    def __init__(self, image_hosts: frozenset[str]):
        self.image_hosts = image_hosts

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> LoopStream:
        addresses = await resolve(host, port)
        if host not in self.image_hosts:
            refused = [(address, kind) for address in addresses if (kind := address_kind(address))]
            addresses = [address for address in addresses if not address_kind(address)]
            if not addresses:
                raise AddressRefused(host, refused)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await super().connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                 socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure or httpcore.ConnectError(f"{host} has no address")


async def resolve(host: str, port: int) -> list[str]:
    """Return the addresses of host, in the order the system gives them. Raise httpcore.ConnectError when it
    has none (as a failed lookup inside httpx would)."""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise httpcore.ConnectError(f"{host} does not resolve ({error})") from None
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in found))


async def check_proxied_host(host: str, image_hosts: frozenset[str]) -> None:
    """Raise AddressRefused when host, not in image_hosts, resolves here to an address that is not public.

    Through a proxy mirrord never connects to the host: the proxy does, after its own lookup. So the check
    is made on this machine's lookup, before the request, and refuses a name with any such address; a name
    that does not resolve here is left to the proxy, whose network it then is.
    """
    if host in image_hosts:
        return
    try:
        addresses = await resolve(host, 80)
    except httpcore.ConnectError:
        return
    refused = [(address, kind) for address in addresses if (kind := address_kind(address))]
    if refused:
        raise AddressRefused(host, refused)


def address_kind(address: str) -> str | None:
    """Return what keeps pictures from an address (loopback, private...), None for a public address.

    IPv4 addresses mapped into IPv6 (::ffff:127.0.0.1) are judged as the IPv4 address they are.
    """
    ip = ipaddress.ip_address(address.partition("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for kind, found in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                        ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                        ("reserved", ip.is_reserved), ("private", ip.is_private),
                        ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)):
        if found:
            return kind
    return None if ip.is_global else "non-public"
