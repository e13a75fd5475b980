"""Under overload the service answers 429 with Retry-After instead of queueing without bound."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from api.app import create_app
from embedder import Embedder
from embedder.batched import BatchedEmbedder
from lookalike.settings import BatchingSettings, CacheSettings, Settings
from service.runtime import Runtime
from tests.api_fixtures import ShopCatalog, wait_ready

pytest_plugins = ["tests.api_fixtures"]


def test_a_full_batch_queue_answers_429_and_every_other_request_succeeds(
    api_settings: Settings, shop_catalog: ShopCatalog, embedder: Embedder
) -> None:
    batching = BatchingSettings(max_batch_size=1, max_wait_ms=0, max_queue=1)
    settings = api_settings.model_copy(update={"batching": batching, "cache": CacheSettings(max_bytes=0)})
    runtime = Runtime(settings, serving=True)
    runtime.__dict__["embedder"] = BatchedEmbedder(embedder, max_batch_size=1, max_wait_ms=0, max_queue=1)
    photos = [p.read_bytes() for p in shop_catalog.photos[:16]]
    with TestClient(create_app(settings, runtime=runtime)) as client:
        wait_ready(client)

        def search(data: bytes) -> tuple[int, str | None, str]:
            r = client.post("/v1/search", files={"image": ("q.jpg", data, "image/jpeg")}, data={"k": "3"})
            return r.status_code, r.headers.get("retry-after"), r.headers.get("content-type", "")

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(search, photos))
    statuses = [status for status, _, _ in answers]
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(429) >= 1, "16 concurrent requests against a queue of 1 must overflow"
    assert statuses.count(200) >= 1
    for status, retry_after, content_type in answers:
        if status == 429:
            assert retry_after is not None and int(retry_after) >= 1
            assert content_type.startswith("application/problem+json")


def test_requests_over_max_in_flight_answer_429_when_models_run_inline(
    api_settings: Settings, shop_catalog: ShopCatalog, embedder: Embedder
) -> None:
    """On the CPU no batcher queue bounds the backlog: the admission limit does."""
    api = api_settings.api.model_copy(update={"max_in_flight": 2})
    settings = api_settings.model_copy(
        update={"api": api, "batching": BatchingSettings(enabled=False), "cache": CacheSettings(max_bytes=0)}
    )
    runtime = Runtime(settings, serving=True)
    runtime.__dict__["embedder"] = embedder
    assert not runtime.batching
    photos = [p.read_bytes() for p in shop_catalog.photos[:16]]
    with TestClient(create_app(settings, runtime=runtime)) as client:
        wait_ready(client)

        def search(data: bytes) -> tuple[int, str | None]:
            r = client.post("/v1/search", files={"image": ("q.jpg", data, "image/jpeg")}, data={"k": "3"})
            return r.status_code, r.headers.get("retry-after")

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(search, photos))
        statuses = [status for status, _ in answers]
        assert set(statuses) <= {200, 429}, statuses
        assert statuses.count(429) >= 1, "16 concurrent requests against a limit of 2 must be turned away"
        assert all(int(retry) >= 1 for status, retry in answers if status == 429 and retry is not None)
        assert runtime.admission.count() == 0
        after = client.post("/v1/search", files={"image": ("q.jpg", photos[0], "image/jpeg")})
        assert after.status_code == 200, "once the burst is over, requests are admitted again"
