"""The Triton backends against a real tritonserver on the CPU agree with the in-process models:
boxes within a pixel, vectors at cosine >= 0.999, the same top-10 after an ingest and a search."""

from __future__ import annotations

import csv
import io
import random
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catalog_ingest import ingest_manifest
from detector import load_detector, select_regions
from detector.triton import TritonYoloDetector
from embedder import Embedder, load_embedder
from embedder.triton import TritonEmbedder
from lookalike.errors import ModelServerError
from lookalike.imaging import decode_image
from lookalike.settings import DetectorSettings, EmbedderSettings, Settings
from lookalike.triton_client import TritonEndpoint, TritonModel
from lookalike.types import DecodedImage
from service.runtime import Runtime
from service.search import SearchRequest
from tests.images import clothing_photos
from triton_repo import LocalTritonServer, Repository

pytest_plugins = ["tests.triton_fixtures"]
pytestmark = pytest.mark.triton


def screenshot_jpegs(n: int, seed: int = 11) -> list[bytes]:
    from evaluation.synth.screenshot import compose_screenshot_jpeg

    photos = clothing_photos(60)
    rng = random.Random(seed)
    shots = []
    for _ in range(n):
        products = [Image.open(p).convert("RGB") for p in rng.sample(photos, rng.randint(1, 3))]
        shots.append(compose_screenshot_jpeg(products, rng)[0])
    return shots


# The served models run ONNX Runtime fp32: so does the in-process side they are held to (the CPU
# default may be OpenVINO bf16 or int8 where the CPU has it, docs/PRECISION.md).
FP32_DETECTOR = DetectorSettings(spec="garment-yolo", engine="onnxruntime", precision="fp32")
FP32_EMBEDDER = EmbedderSettings(device="cpu", engine="onnxruntime", precision="fp32")


@pytest.fixture(scope="module")
def fp32_embedder() -> Embedder:
    return load_embedder(FP32_EMBEDDER)


def spec(server: LocalTritonServer, model: str) -> str:
    return f"triton+grpc://{server.grpc_url}/{model}"


def test_detector_boxes_agree_with_the_in_process_detector_within_a_pixel(
    triton_server: LocalTritonServer,
) -> None:
    local = load_detector(FP32_DETECTOR)
    remote = load_detector(DetectorSettings(spec=spec(triton_server, "detector")))
    assert isinstance(remote, TritonYoloDetector)
    images = [decode_image(b, draft_long_side=1024) for b in screenshot_jpegs(6)]
    found = 0
    for image, want, got in zip(images, local.detect(images), remote.detect(images), strict=True):
        assert len(got) == len(want), (want, got)
        for w, g in zip(
            sorted(want, key=lambda r: -r.score), sorted(got, key=lambda r: -r.score), strict=True
        ):
            assert g.category == w.category
            assert abs(g.score - w.score) < 1e-3
            assert np.abs(np.subtract(g.box.as_list(), w.box.as_list())).max() <= 1.0, (image.source, w, g)
            found += 1
    assert found >= 6, "the screenshots hold products the detector finds"


def test_embedder_vectors_agree_with_the_in_process_embedder(
    triton_server: LocalTritonServer, fp32_embedder: Embedder
) -> None:
    remote = load_embedder(EmbedderSettings(spec=spec(triton_server, "embedder")))
    assert isinstance(remote, TritonEmbedder)
    crops = [Image.open(p).convert("RGB") for p in clothing_photos(40, start=100)]
    got = remote.embed_images(crops)
    want = fp32_embedder.embed_images(crops)
    assert got.shape == want.shape == (40, remote.dim)
    assert float((got * want).sum(axis=1).min()) >= 0.999
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_the_vector_space_names_the_served_model_and_its_version(
    triton_server: LocalTritonServer, fp32_embedder: Embedder
) -> None:
    """The served model is the default embedder (its vectors' name, weights hash included), and
    the version Triton serves is part of the name: an index built in process is not searched
    through Triton, nor one built through another served version."""
    remote = load_embedder(EmbedderSettings(spec=spec(triton_server, "embedder")))
    assert fp32_embedder.spec.startswith(EmbedderSettings().spec + "@")
    assert remote.spec == f"{fp32_embedder.spec}|triton:embedder/v1"


def write_manifest(path: Path, photos: list[Path]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "image", "title", "category"])
        for p in photos:
            w.writerow([p.stem, str(p), f"Item {p.stem[:6]}", "Shirt"])
    return path


@pytest.mark.slow
def test_ingest_and_search_through_triton_return_the_in_process_top_10(
    triton_server: LocalTritonServer, tmp_path: Path
) -> None:
    photos = clothing_photos(60)
    manifest = write_manifest(tmp_path / "catalog.csv", photos[:48])
    results = []
    for name, detector, embedder in [
        ("local", FP32_DETECTOR, FP32_EMBEDDER),
        (
            "triton",
            DetectorSettings(spec=spec(triton_server, "detector")),
            EmbedderSettings(spec=spec(triton_server, "embedder")),
        ),
    ]:
        settings = Settings(data_dir=tmp_path / name, detector=detector, embedder=embedder)
        runtime = Runtime(settings)
        report = ingest_manifest(runtime.ingest_parts(), manifest, "shop", progress=False)
        assert report.loaded_items == 48 and report.embedded_images == 48
        found = []
        for shot in screenshot_jpegs(4, seed=5):
            result = runtime.search.search_bytes(
                shot, SearchRequest("shop", k=10), max_bytes=10_000_000, max_pixels=10_000_000
            )
            found.append([[m.item.item_id for m in r.matches] for r in result.regions])
        results.append(found)
    assert results[0] == results[1]


def test_the_pipeline_model_returns_the_regions_and_vectors_of_the_in_process_search(
    triton_server: LocalTritonServer, fp32_embedder: Embedder
) -> None:
    model = TritonModel(TritonEndpoint.parse(spec(triton_server, "pipeline")))
    local = load_detector(FP32_DETECTOR)
    for jpeg in screenshot_jpegs(3, seed=3):
        out = model.infer({"IMAGE": np.frombuffer(jpeg, np.uint8)}, ["BOXES", "SCORES", "CLASSES", "VECTORS"])
        image: DecodedImage = decode_image(jpeg, draft_long_side=1024)
        regions = select_regions(local.detect([image])[0], image, DetectorSettings())
        want_boxes = np.asarray([r.box.as_list() for r in regions]) / image.scale
        assert out["BOXES"].shape == want_boxes.shape
        assert np.abs(out["BOXES"] - want_boxes).max() <= 1.0 / image.scale
        want = fp32_embedder.embed_images([image.crop(r.box) for r in regions])
        assert float((out["VECTORS"] * want).sum(axis=1).min()) >= 0.999


def test_flip_tta_through_triton_finds_the_boxes_of_the_in_process_flip_tta(
    triton_server: LocalTritonServer,
) -> None:
    """The Triton client sends each image's mirror in the same batch and fuses the two passes as
    the in-process detector does: the same boxes within a pixel."""
    tta = FP32_DETECTOR.model_copy(update={"flip_tta": True})
    local = load_detector(tta)
    remote = load_detector(DetectorSettings(spec=spec(triton_server, "detector"), flip_tta=True))
    images = [decode_image(b, draft_long_side=1024) for b in screenshot_jpegs(4, seed=7)]
    found = 0
    for want, got in zip(local.detect(images), remote.detect(images), strict=True):
        assert len(got) == len(want), (want, got)
        for w, g in zip(
            sorted(want, key=lambda r: -r.score), sorted(got, key=lambda r: -r.score), strict=True
        ):
            assert g.category == w.category and abs(g.score - w.score) < 1e-3
            assert np.abs(np.subtract(g.box.as_list(), w.box.as_list())).max() <= 1.0
            found += 1
    assert found >= 4


def test_the_pipeline_model_with_flip_tta_returns_the_regions_of_the_in_process_search(
    triton_server: LocalTritonServer, triton_repository: Repository, fp32_embedder: Embedder
) -> None:
    """The pipeline model loaded as `lookalike export triton` writes it with flip TTA on (its
    parameters), held to the in-process detector with flip TTA; the shared model is restored."""
    import tritonclient.grpc as grpc
    from google.protobuf import json_format, text_format
    from tritonclient.grpc import model_config_pb2

    from detector import garment_yolo_defaults

    tta = FP32_DETECTOR.model_copy(update={"flip_tta": True})
    _, confidence = garment_yolo_defaults(tta)
    config = text_format.Parse(
        (triton_repository.root / "pipeline" / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()
    )
    config.parameters["flip_tta"].string_value = "1"
    config.parameters["confidence"].string_value = str(confidence)
    admin = grpc.InferenceServerClient(triton_server.grpc_url)
    try:
        admin.load_model("pipeline", config=json_format.MessageToJson(config))
        model = TritonModel(TritonEndpoint.parse(spec(triton_server, "pipeline")))
        local = load_detector(tta)
        for jpeg in screenshot_jpegs(3, seed=9):
            out = model.infer({"IMAGE": np.frombuffer(jpeg, np.uint8)}, ["BOXES", "SCORES", "VECTORS"])
            image: DecodedImage = decode_image(jpeg, draft_long_side=1024)
            regions = select_regions(local.detect([image])[0], image, tta)
            want_boxes = np.asarray([r.box.as_list() for r in regions]) / image.scale
            assert out["BOXES"].shape == want_boxes.shape
            assert np.abs(out["BOXES"] - want_boxes).max() <= 1.0 / image.scale
            assert np.abs(np.sort(out["SCORES"]) - np.sort([r.score for r in regions])).max() < 1e-3
            want = fp32_embedder.embed_images([image.crop(r.box) for r in regions])
            assert float((out["VECTORS"] * want).sum(axis=1).min()) >= 0.999
    finally:
        admin.load_model("pipeline")  # back to the repository's own config for the other tests
        admin.close()


def test_readiness_lists_the_triton_models(triton_server: LocalTritonServer, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        detector=DetectorSettings(spec=spec(triton_server, "detector")),
        embedder=EmbedderSettings(spec=spec(triton_server, "embedder")),
    )
    runtime = Runtime(settings)
    assert runtime.model_servers() == {
        f"model server {runtime.detector.spec}": "ok",
        f"model server {runtime.embedder.spec}": "ok",
    }
    flipped = settings.model_copy(
        update={"embedder": settings.embedder.model_copy(update={"flip_average": True})}
    )
    wrapped = Runtime(flipped)
    assert wrapped.embedder.spec.endswith("+flip"), "the Triton embedder under flip averaging"
    assert len(wrapped.model_servers()) == 2, "found under its wrapper"


def test_a_missing_model_or_server_is_a_clear_model_server_error(triton_server: LocalTritonServer) -> None:
    with pytest.raises(ModelServerError, match="model 'nosuch' not ready"):
        TritonModel(TritonEndpoint.parse(spec(triton_server, "nosuch")), wait_ready_s=0)
    from triton_repo.server import free_port

    closed = f"triton+http://127.0.0.1:{free_port()}/detector?timeout_s=1"
    with pytest.raises(ModelServerError, match="unreachable"):
        TritonModel(TritonEndpoint.parse(closed), wait_ready_s=0)


def test_a_bad_image_fails_its_own_pipeline_request(triton_server: LocalTritonServer) -> None:
    model = TritonModel(TritonEndpoint.parse(spec(triton_server, "pipeline") + "?retries=0"))
    with pytest.raises(ModelServerError, match="cannot identify image"):
        model.infer({"IMAGE": np.frombuffer(b"not an image", np.uint8)}, ["BOXES"])
    good = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(good, "PNG")
    out = model.infer({"IMAGE": np.frombuffer(good.getvalue(), np.uint8)}, ["BOXES"])
    assert out["BOXES"].tolist() == [[0.0, 0.0, 64.0, 64.0]], "no product: the whole image"


@pytest.mark.slow
def test_the_api_serves_through_triton_and_readyz_shows_the_triton_models(
    triton_server: LocalTritonServer, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    settings = Settings(
        data_dir=tmp_path,
        detector=DetectorSettings(spec=spec(triton_server, "detector")),
        embedder=EmbedderSettings(spec=spec(triton_server, "embedder")),
    )
    runtime = Runtime(settings, serving=True)
    photos = clothing_photos(12)
    ingest_manifest(
        runtime.ingest_parts(), write_manifest(tmp_path / "c.csv", photos), "shop", progress=False
    )
    with TestClient(create_app(settings, runtime=runtime)) as client:
        for _ in range(100):
            ready = client.get("/readyz")
            if "loading" not in ready.json()["checks"].values():
                break
            time.sleep(0.1)
        assert ready.status_code == 200, ready.json()
        triton_checks = {k: v for k, v in ready.json()["checks"].items() if k.startswith("model server")}
        assert list(triton_checks.values()) == ["ok", "ok"]
        found = client.post(
            "/v1/search", files={"image": photos[3].read_bytes()}, data={"k": "3", "catalog": "shop"}
        )
        assert found.status_code == 200, found.text
        assert found.json()["regions"][0]["matches"][0]["item_id"] == photos[3].stem


def test_readyz_says_why_when_the_triton_server_is_down(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from triton_repo.server import free_port

    down = f"triton+grpc://127.0.0.1:{free_port()}/detector?wait_s=0"
    settings = Settings(data_dir=tmp_path, detector=DetectorSettings(spec=down))
    with TestClient(create_app(settings)) as client:
        for _ in range(200):
            body = client.get("/readyz").json()
            if body["checks"]["detector"] != "loading":
                break
            time.sleep(0.1)
        assert client.get("/readyz").status_code == 503
        assert (
            "ModelServerError" in body["checks"]["detector"] and "unreachable" in body["checks"]["detector"]
        )


def test_a_server_that_goes_away_is_retried_a_bounded_number_of_times_then_a_503_error(
    triton_server: LocalTritonServer,
) -> None:
    import dataclasses

    from triton_repo.server import free_port

    model = TritonModel(TritonEndpoint.parse(spec(triton_server, "embedder") + "?retries=2&timeout_s=1"))
    x = {"input": np.zeros((1, 3, 224, 224), np.float32)}
    assert model.infer(x, ["features"])["features"].shape == (1, 1280)
    # the same model, now behind an address where nothing answers (a Triton pod that went away)
    model.endpoint = dataclasses.replace(model.endpoint, url=f"127.0.0.1:{free_port()}")
    model.close()
    for _ in range(4):
        model._pool.put(model._new_client())
    started = time.monotonic()
    with pytest.raises(ModelServerError, match=r"failed after 3 attempt\(s\)"):
        model.infer(x, ["features"])
    assert time.monotonic() - started < 10, "bounded: two short back-offs, not a hang"


def test_shared_memory_inputs_give_the_same_vectors_and_are_freed_on_close(
    triton_server: LocalTritonServer,
) -> None:
    from tritonclient.utils import shared_memory

    crops = [Image.open(p).convert("RGB") for p in clothing_photos(6, start=300)]
    plain = load_embedder(EmbedderSettings(spec=spec(triton_server, "embedder")))
    shared = load_embedder(EmbedderSettings(spec=spec(triton_server, "embedder") + "?shm_mb=8"))
    assert isinstance(shared, TritonEmbedder) and shared.model.endpoint.shm_mb == 8
    got = shared.embed_images(crops)  # 6 crops: 3.6 MB, through shared memory
    assert np.array_equal(got, plain.embed_images(crops))
    assert len(shared.model._regions) == 1
    big = shared.embed_images(crops * 2)  # 7.2 MB at batch 32: still fits
    assert np.array_equal(big[:6], got)
    shared.model.close()
    assert shared.model._regions == {} and shared_memory.mapped_shared_memory_regions() == []
