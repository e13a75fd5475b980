"""Catalogs are embedded in fp32 whatever precision queries run in (int8 aside: a space of its own):
bf16 queries keep recall on an fp32 catalog, bf16 on both sides does not (docs/PRECISION.md). So
``auto`` may run the embedder's queries in bf16 where the CPU has it, and an index ingested before
or after stays the one served. The detector takes bf16 under ``auto`` only with weights whose bf16
boxes were measured to keep recall (garment-yolo v5 did, v4 did not)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from catalog_ingest import ingest_manifest
from detector import runtime_request as detector_request
from detector.bf16_checked import bf16_checked
from embedder import catalog_settings, load_embedder, precisions
from embedder import runtime_request as embedder_request
from lookalike import onnx_sessions
from lookalike.cpu_features import parse_cpuinfo, this_cpu
from lookalike.imaging import decode_image
from lookalike.model_runtime import auto_candidates
from lookalike.packaged import garment_yolo_onnx
from lookalike.settings import DetectorSettings, EmbedderSettings
from service.search import SearchRequest
from tests.conftest import CPU_EMBEDDER, RuntimeFactory
from tests.images import clothing_photos
from tests.test_model_runtime import EPYC_AVX2, XEON_BF16


def test_the_catalog_side_runs_fp32_unless_the_space_is_int8() -> None:
    for precision in ("auto", "bf16", "fp32"):
        settings = EmbedderSettings(engine="openvino", precision=precision)
        assert catalog_settings(settings) == settings.model_copy(update={"precision": "fp32"})
    int8 = EmbedderSettings(precision="int8")
    assert catalog_settings(int8) == int8  # int8 vectors are another space: both sides int8


def test_auto_may_time_bf16_only_where_the_cpu_has_it(tmp_path: Path) -> None:
    model = garment_yolo_onnx()
    xeon, epyc = parse_cpuinfo(XEON_BF16), parse_cpuinfo(EPYC_AVX2)
    embedder = embedder_request(EmbedderSettings(), tmp_path)
    assert not embedder.auto_int8  # int8 vectors are another space
    on_xeon = auto_candidates(embedder, model, xeon, openvino_installed=True)
    assert [(c.engine, c.precision) for c in on_xeon] == [("onnxruntime", "fp32"), ("openvino", "bf16")]
    on_epyc = auto_candidates(embedder, model, epyc, openvino_installed=True)
    assert [(c.engine, c.precision) for c in on_epyc] == [("onnxruntime", "fp32")]
    assert "no bf16" in on_epyc[0].reason
    # the detector: bf16 under auto only for weights measured in bf16 (garment-yolo v5), never int8
    detector = detector_request(DetectorSettings(), tmp_path, str(model))
    assert not detector.auto_int8 and detector.auto_bf16
    assert [c.precision for c in auto_candidates(detector, model, xeon, openvino_installed=True)] == [
        "fp32",
        "bf16",
    ]
    assert [c.precision for c in auto_candidates(detector, model, epyc, openvino_installed=True)] == ["fp32"]
    pinned = detector_request(DetectorSettings(precision="bf16"), tmp_path, str(model))
    assert [c.precision for c in auto_candidates(pinned, model, xeon, openvino_installed=True)] == ["bf16"]


def test_the_embedder_is_timed_on_a_request_of_crops() -> None:
    """``auto`` times the embedder on a typical request's crops at its image size, not one crop
    (bf16's lead at one crop is smaller and noisier); a batch-fixed model keeps its own batch."""
    from embedder import TRIAL_CROPS

    request = embedder_request(EmbedderSettings(image_size=192), None)
    assert request.trial_shape == (TRIAL_CROPS, 3, 192, 192) and TRIAL_CROPS > 1

    class Model:
        def __init__(self, shape: list[Any]) -> None:
            self.shape = shape

        def get_inputs(self) -> list[Any]:
            return [type("Input", (), {"name": "x", "shape": self.shape})()]

    dynamic = onnx_sessions._trial_feeds(Model(["batch", 3, 192, 192]), request.trial_shape)  # type: ignore[arg-type]
    fixed = onnx_sessions._trial_feeds(Model([1, 3, 192, 192]), request.trial_shape)  # type: ignore[arg-type]
    assert dynamic["x"].shape == (TRIAL_CROPS, 3, 192, 192) and fixed["x"].shape == (1, 3, 192, 192)


def test_detector_weights_not_measured_in_bf16_keep_fp32_under_auto(tmp_path: Path) -> None:
    """A retrained garment-yolo (here: the shipped file with one byte changed) or a user's weights
    are not the file whose bf16 recall was measured: ``auto`` times only fp32 for them, until its
    recall in bf16 is measured and its hash listed (``detector.bf16_checked``)."""
    shipped = garment_yolo_onnx().read_bytes()
    retrained = tmp_path / "best.onnx"
    retrained.write_bytes(shipped[:-1] + bytes([shipped[-1] ^ 1]))
    xeon = parse_cpuinfo(XEON_BF16)
    for weights in (str(retrained), "yolov8n.pt", None):
        request = detector_request(DetectorSettings(), tmp_path, weights)
        assert not request.auto_bf16
        assert [c.precision for c in auto_candidates(request, retrained, xeon, openvino_installed=True)] == [
            "fp32"
        ]
    assert bf16_checked(garment_yolo_onnx()), (
        "models/garment-yolo/best.onnx changed: measure its bf16 recall (docs/PRECISION.md, "
        "`python -m bench.paired_recall`) and list its sha256 in detector/bf16_checked.py, or leave it fp32"
    )


def test_an_fp32_embedder_ingests_with_itself(make_runtime: RuntimeFactory) -> None:
    runtime = make_runtime()
    assert precisions(runtime.embedder) == {"fp32"}
    assert runtime.ingest_parts().embedder() is runtime.embedder  # no second model


def _manifest(path: Path, photos: list[Path]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "image", "category"])
        w.writerows([p.stem, str(p), "Shirt"] for p in photos)
    return path


@pytest.mark.slow
@pytest.mark.skipif(not this_cpu().native_bf16, reason="this CPU has no bf16 in hardware")
def test_bf16_queries_search_a_catalog_embedded_in_fp32(
    make_runtime: RuntimeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bf16 pinned where the CPU has it (the suite hides bf16 from the sessions: shown again here):
    the ingest embeds with the same model in fp32, the index is the fp32 space's, and bf16 queries
    find the products in it."""
    monkeypatch.setattr(onnx_sessions, "this_cpu", this_cpu)
    runtime = make_runtime(embedder=CPU_EMBEDDER.model_copy(update={"precision": "bf16"}))
    catalog_embedder = runtime.ingest_parts().embedder()
    assert precisions(runtime.embedder) == {"bf16"} and precisions(catalog_embedder) == {"fp32"}
    assert catalog_embedder.spec == runtime.embedder.spec  # one vector space: the index is served

    photos = clothing_photos(12, start=200)
    report = ingest_manifest(
        runtime.ingest_parts(), _manifest(tmp_path / "items.csv", photos), "shop", progress=False
    )
    assert report.published
    fp32: Any = load_embedder(CPU_EMBEDDER.model_copy(update={"engine": "onnxruntime", "precision": "fp32"}))
    images = [Image.open(p).convert("RGB") for p in photos[:3]]
    assert np.allclose(catalog_embedder.embed_images(images), fp32.embed_images(images), atol=1e-4)

    for photo in photos[:4]:
        with Image.open(photo) as img:
            query = img.convert("RGB").rotate(6, expand=True)
        query.save(tmp_path / "q.jpg", quality=85)
        result = runtime.search.search(
            decode_image((tmp_path / "q.jpg").read_bytes()), SearchRequest(catalog="shop", k=5)
        )
        assert result.regions[0].matches[0].item.item_id == photo.stem
