"""Outbound HTTP that cannot be steered into the server's own network (SSRF, DNS rebinding).

A URL's host is resolved ONCE per connection, every address is checked, and the socket connects
to a checked address itself: there is no second lookup a rebinding resolver could answer
differently. TLS still verifies and sends the name (SNI) and the Host header keeps the name,
because only the TCP connect is pinned. Every redirect hop opens its connection here too, so
each is checked the same way.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]
"""host, port -> the addresses to try, in order (tests pass one that changes its answer)."""


class UnsafeDestinationError(Exception):
    """A host that does not resolve, or resolves to an address this process may not reach."""


def system_resolve(host: str, port: int) -> list[str]:
    """The operating system's answer (getaddrinfo), addresses in its preferred order, deduplicated."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses a fetch may connect to: public ones, plus private ones only when allowed."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    resolver: Resolver = field(default=system_resolve)

    @classmethod
    def of(
        cls,
        *,
        allow_private: bool = False,
        allowed_networks: Iterable[str] = (),
        resolver: Resolver | None = None,
    ) -> AddressPolicy:
        nets = tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks)
        return cls(allow_private, nets, resolver or system_resolve)

    def permits(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback
        return self.allow_private or address.is_global or any(address in n for n in self.allowed_networks)

    def addresses(self, host: str, port: int) -> list[str]:
        """The checked addresses of ``host``: all of them permitted, or UnsafeDestinationError."""
        host = host.strip("[]")
        try:
            literal = ipaddress.ip_address(host)
            found = [str(literal)]
        except ValueError:
            try:
                found = list(self.resolver(host, port))
            except OSError as exc:
                raise UnsafeDestinationError(f"host {host!r} does not resolve ({exc})") from exc
        if not found:
            raise UnsafeDestinationError(f"host {host!r} does not resolve")
        for text in found:
            address = ipaddress.ip_address(text.split("%")[0])
            if not self.permits(address):
                raise UnsafeDestinationError(
                    f"{host} resolves to a non-public address ({address}); fetching it is not allowed"
                )
        return found


class _GuardedBackend(httpcore.SyncBackend):
    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        error: Exception | None = None
        for address in self.policy.addresses(host, port):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:  # try the next checked address
                error = exc
        assert error is not None
        raise error


class _GuardedAsyncBackend(httpcore.AnyIOBackend):
    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        error: Exception | None = None
        addresses = await anyio.to_thread.run_sync(self.policy.addresses, host, port)
        for address in addresses:
            try:
                return await super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        assert error is not None
        raise error


def guarded_transport(policy: AddressPolicy, limits: httpx.Limits | None = None) -> httpx.HTTPTransport:
    """An httpx transport whose every connection goes through ``policy`` (no proxies from the env)."""
    limits = limits or httpx.Limits()
    transport = httpx.HTTPTransport(trust_env=False, limits=limits)
    # httpx has no public way to pass httpcore a network backend: build its pool with ours.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=_GuardedBackend(policy),
    )
    return transport


def guarded_async_transport(
    policy: AddressPolicy, limits: httpx.Limits | None = None
) -> httpx.AsyncHTTPTransport:
    """The asyncio twin of ``guarded_transport``, for the API's image-URL fetches."""
    limits = limits or httpx.Limits()
    transport = httpx.AsyncHTTPTransport(trust_env=False, limits=limits)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=_GuardedAsyncBackend(policy),
    )
    return transport


__all__ = [
    "AddressPolicy",
    "Resolver",
    "UnsafeDestinationError",
    "guarded_async_transport",
    "guarded_transport",
    "system_resolve",
]
