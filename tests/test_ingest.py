"""``lookalike ingest`` end to end: real photos, real SQLite/PostgreSQL, real FAISS, real MobileNetV2."""

from __future__ import annotations

import csv
import functools
import json
import re
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog_ingest import IngestReport, ingest_manifest
from index.versions import IndexVersionError
from lookalike.imaging import decode_image
from lookalike.settings import EmbedderSettings, IngestSettings
from service.search import SearchRequest
from tests.conftest import RuntimeFactory
from tests.images import clothing_photos

COLUMNS = ["item_id", "image", "title", "brand", "category", "price", "currency", "colour"]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Scenario:
    images: Path
    rows: list[dict[str, Any]]
    expected_rejects: dict[str, str]  # item_id (or image when no item_id) -> part of the reason

    def write(self, path: Path) -> Path:
        """The same rows as CSV, JSONL or Parquet, by the file's extension."""
        if path.suffix == ".csv":
            with path.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=COLUMNS)
                writer.writeheader()
                writer.writerows(self.rows)
        elif path.suffix == ".jsonl":
            path.write_text(
                "".join(json.dumps({k: v for k, v in r.items() if v != ""}) + "\n" for r in self.rows)
            )
        else:
            table = pa.Table.from_pylist(
                [{c: (None if r.get(c, "") == "" else r[c]) for c in COLUMNS} for r in self.rows],
                schema=pa.schema([(c, pa.float64() if c == "price" else pa.string()) for c in COLUMNS]),
            )
            pq.write_table(table, path)
        return path


def item_row(item_id: str, image: str, **extra: Any) -> dict[str, Any]:
    return {c: "" for c in COLUMNS} | {"item_id": item_id, "image": image} | extra


def build_scenario(root: Path) -> Scenario:
    """20 real clothing photos plus every kind of bad row a real catalog has."""
    images = root / "images"
    images.mkdir()
    photos = clothing_photos(20)
    for i, photo in enumerate(photos):
        shutil.copy(photo, images / f"p{i:02d}.jpg")
    shutil.copy(photos[3], images / "copy-of-p03.jpg")
    (images / "corrupt.jpg").write_bytes(bytes(range(256)) * 8)
    data = photos[15].read_bytes()
    (images / "truncated.jpg").write_bytes(data[: len(data) * 6 // 10])
    (images / "notes.txt").write_text("not an image")

    rows = [
        item_row(
            f"item-{i:02d}",
            f"p{i:02d}.jpg",
            title=f"Photo {i}",
            brand="Acme",
            category="Shirt" if i % 2 else "Pants",
            price=10.0 + i,
            currency="EUR",
            colour="blue",
        )
        for i in range(14)
    ]
    rows += [
        item_row("item-00", "p14.jpg"),  # a second photo of item-00, metadata left blank
        item_row("dup-of-03", "copy-of-p03.jpg", title="Same photo, other listing", category="Shirt"),
        item_row("missing", "nope.jpg"),
        item_row("corrupt", "corrupt.jpg"),
        item_row("truncated", "truncated.jpg"),
        item_row("remote", f"http://127.0.0.1:{closed_port()}/x.jpg"),
        item_row("item-05", "p16.jpg", title="Not photo 5"),
        item_row("", "p17.jpg", title="No id"),
    ]
    expected = {
        "missing": "image file not found",
        "corrupt": "not a recognised image format",
        "truncated": "truncated",
        "remote": "could not fetch http://127.0.0.1",
        "item-05": "conflicting metadata for item 'item-05': title 'Not photo 5' here, 'Photo 5' in row 7",
        "p17.jpg": "missing item_id",
    }
    return Scenario(images, rows, expected)


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    return build_scenario(tmp_path)


def assert_scenario_report(report: IngestReport) -> None:
    assert report.rows == 22
    assert report.loaded_items == 15  # 14 + the duplicate listing
    assert report.loaded_images == 15  # 14 + item-00's second photo; the copy's bytes are not new
    assert report.duplicates == 1
    assert report.skipped == 6
    assert {r.item_id or r.image: r.reason for r in report.rejects}.keys() == {
        "missing",
        "corrupt",
        "truncated",
        "remote",
        "item-05",
        "p17.jpg",
    }
    # Files under the images root that no row names (rejected rows still name theirs).
    assert report.unreferenced_images == ["p15.jpg", "p18.jpg", "p19.jpg"]


def test_ingest_loads_good_rows_rejects_bad_ones_and_serves_search(
    make_runtime: RuntimeFactory, database_url: str, scenario: Scenario, tmp_path: Path
) -> None:
    runtime = make_runtime(database_url=database_url)
    catalog = f"shop-{uuid.uuid4().hex[:6]}"
    manifest = scenario.write(tmp_path / "manifest.csv")

    report = ingest_manifest(
        runtime.ingest_parts(), manifest, catalog, images_root=scenario.images, progress=False
    )

    assert_scenario_report(report)
    assert report.embedded_images == 15 and report.reused_images == 0
    assert report.published and report.indexed_vectors == 15
    assert report.images_per_s > 0
    reasons = {r.item_id or r.image: r.reason for r in report.rejects}
    for key, part in scenario.expected_rejects.items():
        assert part in reasons[key], (key, reasons[key])

    # The summary says where the data landed, and how a server gets to read it.
    summary = report.summary()
    data_dir = runtime.settings.data_dir.resolve()
    assert f"data folder: {data_dir}" in summary and f"LOOKALIKE_DATA_DIR={data_dir}" in summary
    assert f"database: {runtime.store.describe()}" in summary
    # Unreferenced files: counted and a few named in the summary, all listed in the report file.
    assert report.unreferenced_path == runtime.settings.data_dir / "reports" / f"{catalog}-unreferenced.txt"
    assert report.unreferenced_path.read_text().splitlines() == ["p15.jpg", "p18.jpg", "p19.jpg"]
    assert "unreferenced: 3 image files" in summary and str(report.unreferenced_path) in summary

    # The rejects file: one line per bad row, numbered as in the CSV (header = line 1).
    assert report.rejects_path == runtime.settings.data_dir / "reports" / f"{catalog}-rejects.csv"
    with report.rejects_path.open(newline="") as f:
        written = list(csv.DictReader(f))
    assert [(int(r["row"]), r["item_id"], r["image"]) for r in written] == [
        (18, "missing", "nope.jpg"),
        (19, "corrupt", "corrupt.jpg"),
        (20, "truncated", "truncated.jpg"),
        (21, "remote", scenario.rows[19]["image"]),
        (22, "item-05", "p16.jpg"),
        (23, "", "p17.jpg"),
    ]

    store = runtime.store
    info = store.get_catalog(catalog)
    assert (info.item_count, info.image_count, info.region_count) == (15, 15, 15)
    item = store.get_item(catalog, "item-07")
    assert (item.title, item.brand, item.category, item.price, item.currency) == (
        "Photo 7",
        "Acme",
        "Shirt",
        17.0,
        "EUR",
    )
    assert item.attributes == {"colour": "blue"}
    assert item.image_url == f"/v1/catalogs/{catalog}/items/item-07/image"
    assert store.item_image_sources(catalog, "item-00") == [
        str((scenario.images / "p00.jpg").resolve()),
        str((scenario.images / "p14.jpg").resolve()),
    ]
    # Identical bytes under another item: linked to the one image, never embedded twice.
    assert store.item_image_sources(catalog, "dup-of-03") == [str((scenario.images / "p03.jpg").resolve())]
    assert runtime.store.get_item(catalog, "item-05").title == "Photo 5"

    # A catalog photo finds its own item first, through the one search pipeline.
    for photo, owner in [("p07.jpg", "item-07"), ("p14.jpg", "item-00"), ("p10.jpg", "item-10")]:
        image = decode_image((scenario.images / photo).read_bytes(), source=photo)
        result = runtime.search.search(image, SearchRequest(catalog=catalog, k=3))
        assert result.index_version == report.index_version
        best = result.regions[0].matches[0]
        assert best.item.item_id == owner and best.score > 0.99


def test_reingest_is_idempotent_and_incremental(
    make_runtime: RuntimeFactory, scenario: Scenario, tmp_path: Path
) -> None:
    runtime = make_runtime()
    manifest = scenario.write(tmp_path / "manifest.csv")
    first = ingest_manifest(
        runtime.ingest_parts(), manifest, "shop", images_root=scenario.images, progress=False
    )
    ids_before = runtime.store.region_vectors("shop", runtime.embedder.spec)[1]

    second = ingest_manifest(
        runtime.ingest_parts(), manifest, "shop", images_root=scenario.images, progress=False
    )

    assert second.embedded_images == 0 and second.reused_images == 15
    assert not second.published and second.index_version == first.index_version
    assert [v.version for v in runtime.index_store.versions("shop")] == [first.index_version]
    assert (second.rows, second.loaded_items, second.loaded_images, second.duplicates, second.skipped) == (
        first.rows,
        first.loaded_items,
        first.loaded_images,
        first.duplicates,
        first.skipped,
    )
    info = runtime.store.get_catalog("shop")
    assert (info.item_count, info.image_count, info.region_count) == (15, 15, 15)
    assert list(runtime.store.region_vectors("shop", runtime.embedder.spec)[1]) == list(ids_before)

    # One more row: only its photo is embedded, and a new version goes live.
    scenario.rows.append(item_row("item-18", "p18.jpg", title="Photo 18"))
    third = ingest_manifest(
        runtime.ingest_parts(), scenario.write(manifest), "shop", images_root=scenario.images, progress=False
    )
    assert third.embedded_images == 1 and third.published and third.indexed_vectors == 16
    assert runtime.index_store.current_version("shop") == third.index_version != first.index_version
    assert third.unreferenced_images == ["p15.jpg", "p19.jpg"]


def test_vectors_made_at_another_input_size_are_never_mixed_with_the_catalogs(
    make_runtime: RuntimeFactory, scenario: Scenario, tmp_path: Path
) -> None:
    """The embedder's input size is part of its vectors' name: a re-ingest at 160 px embeds every
    photo again, and a service at 224 px refuses the index built at 160 instead of searching it."""
    data_dir = tmp_path / "data"
    standard = make_runtime(data_dir=data_dir)
    manifest = scenario.write(tmp_path / "manifest.csv")
    ingest_manifest(standard.ingest_parts(), manifest, "shop", images_root=scenario.images, progress=False)

    small = EmbedderSettings(spec="torchvision:mobilenet_v2", device="cpu", image_size=160, runtime="torch")
    resized = make_runtime(data_dir=data_dir, embedder=small)
    assert resized.embedder.spec == standard.embedder.spec + "|160px"
    report = ingest_manifest(
        resized.ingest_parts(), manifest, "shop", images_root=scenario.images, progress=False
    )

    assert report.embedded_images == 15 and report.reused_images == 0 and report.published
    with pytest.raises(IndexVersionError, match=re.escape("160px")):
        make_runtime(data_dir=data_dir).index_store.load("shop", model_spec=standard.embedder.spec)


def test_a_catalog_ingested_with_mobilenet_v2_is_refused_by_the_default_embedder_until_ingested_again(
    make_runtime: RuntimeFactory, scenario: Scenario, tmp_path: Path
) -> None:
    """The default embedder changed (MobileNetV2 -> product_tuned, issue 15): a catalog ingested
    with the old one is refused by a service on the new default, saying what to do, never searched
    with the other model's vectors; a new ingest embeds every photo again and serves it."""
    data_dir = tmp_path / "data"
    old = make_runtime(data_dir=data_dir)  # the tests' MobileNetV2
    manifest = scenario.write(tmp_path / "manifest.csv")
    ingest_manifest(old.ingest_parts(), manifest, "shop", images_root=scenario.images, progress=False)
    assert old.embedder.spec.startswith("torchvision:mobilenet_v2@")

    default = EmbedderSettings(device="cpu", batch_size=16, precision="fp32")
    assert default.spec == "product_tuned"
    new = make_runtime(data_dir=data_dir, embedder=default)
    assert new.embedder.spec.startswith("product_tuned@tail-")
    photo = decode_image((scenario.images / "p07.jpg").read_bytes(), source="p07.jpg")
    with pytest.raises(IndexVersionError) as refused:
        new.search.search(photo, SearchRequest(catalog="shop", k=3))
    message = str(refused.value)
    assert f"built with {old.embedder.spec!r}" in message and repr(new.embedder.spec) in message
    assert "ingest the catalog again" in message

    report = ingest_manifest(
        new.ingest_parts(), manifest, "shop", images_root=scenario.images, progress=False
    )
    assert report.embedded_images == 15 and report.reused_images == 0 and report.published
    result = make_runtime(data_dir=data_dir, embedder=default).search.search(
        photo, SearchRequest(catalog="shop", k=3)
    )
    assert result.index_version == report.index_version
    assert result.regions[0].matches[0].item.item_id == "item-07"
    # and the old embedder is refused by the new index in turn: selectable again only with an ingest
    with pytest.raises(IndexVersionError, match="product_tuned@tail-"):
        make_runtime(data_dir=data_dir).index_store.load("shop", model_spec=old.embedder.spec)


def test_csv_jsonl_and_parquet_manifests_give_the_same_catalog(
    make_runtime: RuntimeFactory, scenario: Scenario, tmp_path: Path
) -> None:
    runtime = make_runtime()
    outcomes = {}
    for suffix in ("csv", "jsonl", "parquet"):
        manifest = scenario.write(tmp_path / f"manifest.{suffix}")
        report = ingest_manifest(
            runtime.ingest_parts(), manifest, f"shop-{suffix}", images_root=scenario.images, progress=False
        )
        items = runtime.store.get_items(
            f"shop-{suffix}", [f"item-{i:02d}" for i in range(14)] + ["dup-of-03"]
        )
        outcomes[suffix] = (report, items)

    csv_report, csv_items = outcomes["csv"]
    assert_scenario_report(csv_report)
    # The same bytes loaded into another catalog reuse the stored vectors.
    assert outcomes["jsonl"][0].embedded_images == 0 and outcomes["parquet"][0].embedded_images == 0
    for suffix in ("jsonl", "parquet"):
        report, items = outcomes[suffix]
        assert_scenario_report(report)
        assert [(r.item_id, r.image, re.sub(r"row \d+", "row N", r.reason)) for r in report.rejects] == [
            (r.item_id, r.image, re.sub(r"row \d+", "row N", r.reason)) for r in csv_report.rejects
        ]
        # CSV counts its header as line 1; JSONL lines and Parquet rows count from 1.
        assert [r.row for r in report.rejects] == [r.row - 1 for r in csv_report.rejects]
        assert {
            k: (v.title, v.brand, v.category, v.price, v.currency, v.attributes) for k, v in items.items()
        } == {
            k: (v.title, v.brand, v.category, v.price, v.currency, v.attributes) for k, v in csv_items.items()
        }


def test_validate_only_checks_everything_and_loads_nothing(
    make_runtime: RuntimeFactory, scenario: Scenario, tmp_path: Path
) -> None:
    # An embedder that could not even load: validation must never need it.
    runtime = make_runtime(embedder=EmbedderSettings(spec="onnx:/nonexistent/model.onnx"))
    manifest = scenario.write(tmp_path / "manifest.csv")

    report = ingest_manifest(
        runtime.ingest_parts(),
        manifest,
        "shop",
        images_root=scenario.images,
        validate_only=True,
        progress=False,
    )

    assert_scenario_report(report)
    assert report.embedded_images == 0 and report.index_version is None and not report.published
    assert "validated" in report.summary()
    assert runtime.store.list_catalogs() == []
    assert runtime.index_store.versions("shop") == []
    assert report.rejects_path is not None and len(report.rejects_path.read_text().splitlines()) == 7


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def image_server(scenario: Scenario) -> Iterator[str]:
    """A real HTTP server on a local socket, serving the scenario's images folder."""
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(scenario.images))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_images_are_fetched_over_http_with_limits(
    make_runtime: RuntimeFactory, scenario: Scenario, image_server: str, tmp_path: Path
) -> None:
    limit = (scenario.images / "p00.jpg").stat().st_size
    (scenario.images / "big.jpg").write_bytes((scenario.images / "p00.jpg").read_bytes() + b"\0")
    scenario.rows = [
        item_row("web-1", f"{image_server}/p00.jpg", title="From the web"),
        item_row("web-2", f"{image_server}/nope.jpg"),
        item_row("big", f"{image_server}/big.jpg"),
        item_row("big-local", "big.jpg"),
    ]
    runtime = make_runtime(ingest=IngestSettings(max_image_bytes=limit, fetch_allow_private_networks=True))

    manifest = scenario.write(tmp_path / "web.csv")
    report = ingest_manifest(
        runtime.ingest_parts(), manifest, "web", images_root=scenario.images, progress=False
    )

    assert report.loaded_items == 1 and report.embedded_images == 1
    reasons = {r.item_id: r.reason for r in report.rejects}
    assert reasons == {
        "web-2": f"could not fetch {image_server}/nope.jpg: HTTP 404",
        "big": f"image at {image_server}/big.jpg is over the limit of {limit} bytes",
        "big-local": f"image file {(scenario.images / 'big.jpg').resolve()} has {limit + 1} bytes, "
        f"over the limit of {limit}",
    }
    item = runtime.store.get_item("web", "web-1")
    assert item.image_url == f"{image_server}/p00.jpg"  # a web image is linked, not proxied
