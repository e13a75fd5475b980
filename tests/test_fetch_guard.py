"""Image URLs never reach a private address: resolved once, every address checked, the socket
pinned to the checked address, every redirect hop checked again, rebinding resolvers included.

Two real HTTP servers play the parts: one on 127.0.0.2 (allowed through ``fetch_allowed_networks``,
the "public" CDN of these tests) and one on 127.0.0.1 (the server's own network, never allowed).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from lookalike.netguard import AddressPolicy, UnsafeDestinationError, guarded_transport

if TYPE_CHECKING:
    from service.runtime import Runtime
    from tests.api_fixtures import ShopCatalog

pytest_plugins = ["tests.api_fixtures"]


@dataclass
class Recorder:
    """A real HTTP server that serves one image and records (path, Host) of every request it gets."""

    address: str
    image: bytes = b""
    redirect_to: str | None = None
    seen: list[tuple[str, str]] = field(default_factory=list)
    port: int = 0


def serve(recorder: Recorder) -> Iterator[Recorder]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            recorder.seen.append((self.path, self.headers.get("Host", "")))
            if self.path == "/hop" and recorder.redirect_to:
                self.send_response(302)
                self.send_header("Location", recorder.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(recorder.image)))
            self.end_headers()
            self.wfile.write(recorder.image)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer((recorder.address, 0), Handler)
    recorder.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield recorder
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def cdn(shop_catalog: ShopCatalog) -> Iterator[Recorder]:
    yield from serve(Recorder("127.0.0.2", shop_catalog.photos[0].read_bytes()))


@pytest.fixture
def internal(shop_catalog: ShopCatalog) -> Iterator[Recorder]:
    yield from serve(Recorder("127.0.0.1", shop_catalog.photos[0].read_bytes()))


class RebindingResolver:
    """Answers each name from a script: the first call gets the first answer, later calls the next."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        script = self.answers[host]
        return script[min(self.calls.count(host) - 1, len(script) - 1)]


def client_for(runtime: Runtime, resolver: RebindingResolver, **api: Any) -> TestClient:
    settings = runtime.settings.model_copy(
        update={
            "api": runtime.settings.api.model_copy(
                update={
                    "fetch_allow_private_networks": False,
                    "fetch_allowed_networks": ["127.0.0.2/32"],
                    **api,
                }
            )
        }
    )
    return TestClient(create_app(settings, runtime=runtime, resolver=resolver))


def test_a_rebinding_answer_never_reaches_the_internal_server(
    api_runtime: Runtime, cdn: Recorder, internal: Recorder
) -> None:
    """The resolver says 127.0.0.2 (allowed) first and 127.0.0.1 after: only the first is ever used."""
    resolver = RebindingResolver({"shop.example": [["127.0.0.2"], ["127.0.0.1"]]})
    with client_for(api_runtime, resolver) as client:
        url = f"http://shop.example:{cdn.port}/a.jpg"
        response = client.post("/v1/search", json={"image_url": url, "k": 3})
    assert response.status_code == 200, response.text
    assert cdn.seen == [("/a.jpg", f"shop.example:{cdn.port}")]  # the Host header keeps the name
    assert internal.seen == []
    assert resolver.calls == ["shop.example"]  # resolved once


def test_every_redirect_hop_is_checked_again(api_runtime: Runtime, cdn: Recorder, internal: Recorder) -> None:
    cdn.redirect_to = f"http://metadata.example:{internal.port}/secret"
    resolver = RebindingResolver({"shop.example": [["127.0.0.2"]], "metadata.example": [["127.0.0.1"]]})
    with client_for(api_runtime, resolver) as client:
        response = client.post("/v1/search", json={"image_url": f"http://shop.example:{cdn.port}/hop"})
    assert response.status_code == 422, response.text
    assert "non-public address (127.0.0.1)" in response.json()["detail"]
    assert [path for path, _ in cdn.seen] == ["/hop"]
    assert internal.seen == []


def test_a_name_with_any_private_address_is_refused(api_runtime: Runtime, internal: Recorder) -> None:
    resolver = RebindingResolver({"mixed.example": [["127.0.0.2", "10.1.2.3"]]})
    with client_for(api_runtime, resolver) as client:
        response = client.post(
            "/v1/search", json={"image_url": f"http://mixed.example:{internal.port}/x.jpg"}
        )
    assert response.status_code == 422 and "10.1.2.3" in response.json()["detail"]
    assert internal.seen == []


def test_private_networks_can_be_allowed_in_settings(api_runtime: Runtime, internal: Recorder) -> None:
    resolver = RebindingResolver({"intranet.example": [["127.0.0.1"]]})
    with client_for(api_runtime, resolver, fetch_allow_private_networks=True) as client:
        response = client.post(
            "/v1/search", json={"image_url": f"http://intranet.example:{internal.port}/x.jpg", "k": 2}
        )
    assert response.status_code == 200, response.text
    assert internal.seen == [("/x.jpg", f"intranet.example:{internal.port}")]


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "::ffff:127.0.0.1", "fd00::1", "0.0.0.0"]
)
def test_the_policy_refuses_private_loopback_and_link_local_addresses(address: str) -> None:
    policy = AddressPolicy.of(resolver=lambda host, port: [address])
    with pytest.raises(UnsafeDestinationError, match="non-public"):
        policy.addresses("anything.example", 80)
    with pytest.raises(UnsafeDestinationError, match="non-public"):
        policy.addresses(address, 80)  # an address literal is checked without resolving


def test_the_sync_transport_pins_the_checked_address_too(internal: Recorder) -> None:
    """The ingest fetcher's transport: same guard, no second lookup."""
    resolver = RebindingResolver({"feed.example": [["127.0.0.1"]]})
    refusing = httpx.Client(transport=guarded_transport(AddressPolicy.of(resolver=resolver)))
    with refusing, pytest.raises(UnsafeDestinationError):
        refusing.get(f"http://feed.example:{internal.port}/x.jpg")
    allowed = AddressPolicy.of(allowed_networks=["127.0.0.0/8"], resolver=resolver)
    with httpx.Client(transport=guarded_transport(allowed)) as client:
        assert client.get(f"http://feed.example:{internal.port}/x.jpg").status_code == 200
    assert internal.seen == [("/x.jpg", f"feed.example:{internal.port}")]
