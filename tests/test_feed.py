"""A catalog that follows the retailer's feed: ``upsert`` updates what the manifest names,
``sync`` also removes what it no longer names (within a safety limit), photos that did not
change are not embedded again, and each run publishes one index version."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Any

import pytest

from catalog_ingest import IngestReport, ingest_manifest
from lookalike.errors import ManifestError
from lookalike.imaging import decode_image
from service.runtime import Runtime
from service.search import SearchRequest
from tests.conftest import RuntimeFactory
from tests.images import CLOTHING_IMAGES, clothing_photos

PHOTOS = clothing_photos(12)


def write_feed(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["item_id", "image", "title", "price", "brand"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def row(n: int, photo: int | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "item_id": f"item-{n:02d}",
        "image": PHOTOS[n if photo is None else photo].name,
        "title": fields.get("title", f"Item {n}"),
        "price": fields.get("price", 10.0 + n),
        "brand": fields.get("brand", "Acme"),
    }


def run(runtime: Runtime, manifest: Path, **kw: Any) -> IngestReport:
    return ingest_manifest(
        runtime.ingest_parts(), manifest, "feed", images_root=CLOTHING_IMAGES, progress=False, **kw
    )


def top_item(runtime: Runtime, photo: Path) -> str:
    image = decode_image(photo.read_bytes())
    result = runtime.search.search(image, SearchRequest(catalog="feed", k=1, regions="none"))
    return result.regions[0].matches[0].item.item_id


@pytest.fixture
def loaded(make_runtime: RuntimeFactory, tmp_path: Path) -> Runtime:
    runtime = make_runtime()
    report = run(runtime, write_feed(tmp_path / "day1.csv", [row(n) for n in range(10)]))
    assert report.loaded_items == 10 and report.embedded_images == 10
    return runtime


def test_sync_updates_changed_items_adds_new_ones_and_removes_dropped_ones(
    loaded: Runtime, tmp_path: Path
) -> None:
    before = loaded.index_store.live_version("feed")
    day2 = [row(n) for n in range(4, 9)]
    day2 += [row(0, title="Item 0, now on sale", price=5.0), row(1, price=99.5), row(2, brand="Other")]
    day2 += [row(3, photo=10), row(10, photo=11)]  # item 3: a new photo replaces its old one
    report = run(loaded, write_feed(tmp_path / "day2.csv", day2), mode="sync")

    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 4, 1, 5)
    assert report.embedded_images == 2  # the two new photos; metadata changes embed nothing
    assert "sync: 1 added, 4 updated, 1 removed, 5 unchanged" in report.summary()
    assert report.published and report.index_version != before

    items = loaded.store.item_records("feed")
    assert sorted(items) == [f"item-{n:02d}" for n in range(11) if n != 9]
    assert items["item-00"].title == "Item 0, now on sale" and items["item-00"].price == 5.0
    assert items["item-01"].price == 99.5 and items["item-02"].brand == "Other"
    assert loaded.store.item_image_shas("feed", ["item-03"])["item-03"] == {
        hashlib.sha256(PHOTOS[10].read_bytes()).hexdigest()
    }
    assert top_item(loaded, PHOTOS[9]) != "item-09"  # removed items leave search
    assert top_item(loaded, PHOTOS[10]) == "item-03"
    assert top_item(loaded, PHOTOS[11]) == "item-10"


def test_rerunning_the_same_feed_changes_nothing(loaded: Runtime, tmp_path: Path) -> None:
    manifest = write_feed(tmp_path / "same.csv", [row(n) for n in range(10)])
    version = loaded.index_store.live_version("feed")
    report = run(loaded, manifest, mode="upsert")
    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 0, 0, 10)
    assert report.embedded_images == 0 and not report.published
    assert loaded.index_store.live_version("feed") == version


def test_upsert_never_removes(loaded: Runtime, tmp_path: Path) -> None:
    report = run(loaded, write_feed(tmp_path / "few.csv", [row(0, price=1.0)]), mode="upsert")
    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 1, 0, 0)
    assert len(loaded.store.item_records("feed")) == 10


def test_sync_refuses_to_remove_more_than_its_limit_and_changes_nothing(
    loaded: Runtime, tmp_path: Path
) -> None:
    truncated = write_feed(tmp_path / "truncated.csv", [row(0, price=1.0), row(1)])
    with pytest.raises(ManifestError, match=r"remove 8 of the 10 items .* over the limit of 20%"):
        run(loaded, truncated, mode="sync")
    items = loaded.store.item_records("feed")
    assert len(items) == 10 and items["item-00"].price == 10.0
    report = run(loaded, truncated, mode="sync", max_remove=1.0)
    assert report.removed == 8 and len(loaded.store.item_records("feed")) == 2


def test_conflicts_inside_one_manifest_stay_rejects(loaded: Runtime, tmp_path: Path) -> None:
    rows = [row(n) for n in range(10)] + [row(0, photo=11, title="Something else")]
    report = run(loaded, write_feed(tmp_path / "conflict.csv", rows), mode="sync")
    assert [r.reason for r in report.rejects] == [
        "conflicting metadata for item 'item-00': title 'Something else' here, 'Item 0' in row 2"
    ]
    assert report.removed == 0 and loaded.store.item_records("feed")["item-00"].title == "Item 0"


def test_a_row_that_failed_to_load_never_removes_its_item(loaded: Runtime, tmp_path: Path) -> None:
    rows = [row(n) for n in range(9)] + [{**row(9), "image": "missing.jpg"}]
    report = run(loaded, write_feed(tmp_path / "partial.csv", rows), mode="sync")
    assert report.removed == 0 and "item-09" in loaded.store.item_records("feed")


def test_add_mode_keeps_rejecting_changed_metadata(loaded: Runtime, tmp_path: Path) -> None:
    report = run(loaded, write_feed(tmp_path / "changed.csv", [row(0, price=1.0)]))
    assert report.rejects and "conflicting metadata" in report.rejects[0].reason


def test_a_queued_sync_job_follows_the_feed_too(loaded: Runtime, tmp_path: Path) -> None:
    from jobs import JobState
    from service.jobs import INGEST, ingest_params, job_queue, job_runner

    queue = job_queue(loaded.settings)
    day2 = write_feed(tmp_path / "job.csv", [row(n) for n in range(9)])
    queue.submit(
        INGEST,
        ingest_params(day2, "feed", images_root=CLOTHING_IMAGES, mode="sync", max_remove=0.5),
    )
    done = job_runner(loaded, queue).run_once()
    assert done is not None and done.state is JobState.SUCCEEDED, done and done.error
    summary = done.summary or {}
    assert (summary["mode"], summary["removed"], summary["unchanged"]) == ("sync", 1, 9)
    assert "item-09" not in loaded.store.item_records("feed")
