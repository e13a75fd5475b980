"""The API on Ray Serve (``lookalike serve --runner ray``) answers the API tests: the same tests as
tests/test_api_*.py, over real HTTP, against the ingress, detector and embedder deployments on a
real local Ray cluster (2 CPUs, started once for the module)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import httpx
import pytest

from lookalike.settings import RaySettings, Settings

# The API tests that run again here, unchanged: their ``api_client`` is this module's.
from tests.test_api_catalogs import (  # noqa: F401
    test_catalog_list_has_counts_and_the_live_index_version,
    test_item_has_its_metadata_and_an_image_link,
    test_item_image_serves_the_catalog_file,
    test_unknown_catalog_and_item_are_404_problems,
)
from tests.test_api_errors import (  # noqa: F401
    photo,
    test_a_parameter_given_in_both_the_query_and_the_body_is_refused,
    test_bad_input_is_a_clear_client_error,
    test_unknown_routes_and_methods_are_problems,
    test_validation_errors_list_each_offending_field,
)
from tests.test_api_health import (  # noqa: F401
    openapi,
    test_docs_pages_render_offline_from_assets_this_server_serves,
    test_healthz_is_always_ok,
    test_openapi_documents_all_three_search_forms_with_examples,
    test_openapi_response_models_carry_examples,
    test_readyz_lists_every_component_when_ready,
)
from tests.test_api_search import (  # noqa: F401
    test_accepted_image_formats,
    test_an_uploaded_catalog_photo_finds_its_own_item_first,
    test_base64_json_finds_the_same_item,
    test_categories_filter_returns_only_those_categories,
    test_default_catalog_is_used_when_none_is_named,
    test_image_url_follows_a_redirect,
    test_image_url_is_fetched_and_searched,
    test_min_score_drops_weaker_matches,
    test_raw_image_body_with_parameters_in_the_query_string,
    test_regions_parameter_is_validated_and_documented,
    test_tap_to_search_box_finds_the_product_inside_a_bigger_screenshot,
    upload,
)

if TYPE_CHECKING:
    from tests.api_fixtures import ShopCatalog

pytest.importorskip("ray")
pytestmark = pytest.mark.slow
pytest_plugins = ["tests.api_fixtures"]

RAY = RaySettings(num_cpus=2, object_store_mb=256)
"""The default replicas (api 0.5 CPU, detector 0.5, embedder 1) fill the 2 CPUs exactly."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def served_port(api_settings: Settings, shop_catalog: ShopCatalog) -> Iterator[int]:
    """The session's API settings and catalog, deployed on a local cluster; the port it listens on."""
    from on_ray_serve.run import start, stop

    settings = api_settings.model_copy(
        update={
            "ray": RAY,
            # The suite takes the rules' choice, fp32 (conftest); the replicas must not time the
            # candidates nor pick bf16 or a cached int8 copy.
            "embedder": api_settings.embedder.model_copy(
                update={"engine": "onnxruntime", "precision": "fp32"}
            ),
        }
    )
    port = free_port()
    try:
        start(settings, "127.0.0.1", port)
        yield port
    finally:
        stop(settings)  # also after a failed start: no cluster left behind for the next module


class ToServe(httpx.HTTPTransport):
    """Sends requests for http://testserver/... to the Serve proxy, Host header kept: the app sees
    what it sees under the TestClient, so responses (links included) are byte for byte the same."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "testserver":
            request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return super().handle_request(request)


@pytest.fixture(scope="module")
def api_client(served_port: int) -> Iterator[httpx.Client]:
    """Real HTTP to Ray Serve, in place of the in-process TestClient of the API tests."""
    from tests.api_fixtures import wait_ready

    with httpx.Client(
        base_url="http://testserver", transport=ToServe(served_port), follow_redirects=True, timeout=120
    ) as client:
        wait_ready(client)  # type: ignore[arg-type]
        yield client


def test_concurrent_searches_batched_together_each_get_their_own_answer(
    api_client: httpx.Client, shop_catalog: ShopCatalog
) -> None:
    """``@serve.batch`` runs several searches' images through one model call and splits the result:
    each search must get its own image's vectors back."""
    photos = shop_catalog.photos[:8]
    with ThreadPoolExecutor(len(photos)) as pool:
        responses = list(pool.map(lambda p: upload(api_client, p.read_bytes(), k=1), photos))
    for query, response in zip(photos, responses, strict=True):
        assert response.status_code == 200, response.text
        assert response.json()["regions"][0]["matches"][0]["item_id"] == query.stem


def test_replicas_autoscaling_and_gpus_come_from_the_settings(api_settings: Settings) -> None:
    from lookalike.settings import RayServeSettings, ServeDeploymentSettings
    from on_ray_serve.deployments import API, DETECTOR, EMBEDDER, deployment_options

    cpu = deployment_options(api_settings, cluster_gpus=0)
    assert {name: o["num_replicas"] for name, o in cpu.items()} == {"api": 1, "detector": 1, "embedder": 1}
    assert {name: o["ray_actor_options"] for name, o in cpu.items()} == {
        "api": {"num_cpus": 0.5, "num_gpus": 0.0},
        "detector": {"num_cpus": 0.5, "num_gpus": 0.0},
        "embedder": {"num_cpus": 1.0, "num_gpus": 0.0},
    }
    assert cpu["api"]["max_ongoing_requests"] == api_settings.api.max_in_flight

    scaled = api_settings.model_copy(
        update={
            "ray": RaySettings(
                serve=RayServeSettings(
                    embedder=ServeDeploymentSettings(max_replicas=4, target_ongoing_requests=3)
                )
            )
        }
    )
    gpu = deployment_options(scaled, cluster_gpus=1)
    assert "num_replicas" not in gpu["embedder"]
    assert gpu["embedder"]["autoscaling_config"] == {
        "min_replicas": 1,
        "max_replicas": 4,
        "target_ongoing_requests": 3.0,
    }
    assert gpu["embedder"]["ray_actor_options"]["num_gpus"] == 0.5  # the detector's model would share it
    assert gpu["detector"]["ray_actor_options"]["num_gpus"] == 0.0  # detector "none": no model to place
    assert gpu["api"]["ray_actor_options"]["num_gpus"] == 0.0
    for deployment, name in ((API, "api"), (DETECTOR, "detector"), (EMBEDDER, "embedder")):
        deployment.options(**gpu[name])  # Ray accepts them


def test_serve_refuses_an_unknown_runner() -> None:
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, ["serve", "--runner", "k8s"])
    assert result.exit_code == 2 and "--runner must be one of local, ray, got 'k8s'" in result.output
