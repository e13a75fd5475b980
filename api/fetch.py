"""Fetch a query image from a URL: http(s) only, an overall deadline, a byte cap while streaming."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import httpx

from lookalike.errors import ImageFetchError, ImageTooLargeError
from lookalike.netguard import AddressPolicy, Resolver, UnsafeDestinationError, guarded_async_transport

ALLOWED_SCHEMES = frozenset({"http", "https"})
MAX_REDIRECTS = 3
USER_AGENT = "lookalike-image-fetch/0.1"


def new_http_client(
    *,
    allow_private_networks: bool = False,
    allowed_networks: Sequence[str] = (),
    resolver: Resolver | None = None,
) -> httpx.AsyncClient:
    """One pooled client per app; proxies from the environment are ignored (settings are the only config).

    Unless allowed, every connection it opens (redirects included) goes to a public address that
    was checked and then connected to as such (``lookalike.netguard``): an image URL cannot make
    the server probe its own network (SSRF), not even through a rebinding DNS answer.
    """
    policy = AddressPolicy.of(
        allow_private=allow_private_networks, allowed_networks=allowed_networks, resolver=resolver
    )
    return httpx.AsyncClient(
        transport=guarded_async_transport(policy),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"user-agent": USER_AGENT, "accept": "image/*"},
        trust_env=False,
    )


def parse_image_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise ImageFetchError(f"image_url {url!r} is not a valid URL ({exc})") from exc
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise ImageFetchError(f"image_url must be an http or https URL, got {parsed.scheme or 'no'} scheme")
    if not parsed.host:
        raise ImageFetchError(f"image_url {url!r} has no host")
    return parsed


async def fetch_image(client: httpx.AsyncClient, url: str, *, max_bytes: int, timeout_s: float) -> bytes:
    """The body of ``url``, or a ClientError saying why not (status, timeout, size, network)."""
    parsed = parse_image_url(url)
    try:
        with anyio.fail_after(timeout_s):
            async with client.stream("GET", parsed, timeout=timeout_s) as response:
                if response.status_code != 200:
                    raise ImageFetchError(
                        f"{url}: the server answered HTTP {response.status_code}, not an image"
                    )
                content_type = response.headers.get("content-type", "")
                if content_type.startswith(("text/", "application/json")):
                    raise ImageFetchError(
                        f"{url}: the server sent {content_type.split(';')[0]}, not an image"
                    )
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise ImageTooLargeError(
                        f"{url}: {declared} bytes is over the limit of {max_bytes} bytes"
                    )
                chunks: list[bytes] = []
                total = 0
                async for chunk in response.aiter_bytes():
                    total += len(chunk)
                    if total > max_bytes:
                        raise ImageTooLargeError(f"{url}: more than the limit of {max_bytes} bytes")
                    chunks.append(chunk)
                return b"".join(chunks)
    except UnsafeDestinationError as exc:
        raise ImageFetchError(f"{url}: {exc}") from exc
    except TimeoutError as exc:
        raise ImageFetchError(f"{url}: timed out after {timeout_s:g} s") from exc
    except httpx.TimeoutException as exc:
        raise ImageFetchError(f"{url}: timed out after {timeout_s:g} s") from exc
    except httpx.TooManyRedirects as exc:
        raise ImageFetchError(f"{url}: more than {MAX_REDIRECTS} redirects") from exc
    except httpx.UnsupportedProtocol as exc:
        raise ImageFetchError(f"{url}: redirected to a URL that is not http or https ({exc})") from exc
    except httpx.HTTPError as exc:
        raise ImageFetchError(f"{url}: could not be fetched ({type(exc).__name__}: {exc})") from exc


__all__ = ["fetch_image", "new_http_client", "parse_image_url"]
