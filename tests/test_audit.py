"""``lookalike check`` says what is wrong between the catalog rows, the index versions and the
files; ``repair`` fixes it (a dry run unless --apply); ``gc`` sweeps orphaned publish folders;
a full disk during a publish fails cleanly and leaves the previous version serving."""

from __future__ import annotations

import csv
import errno
import os
from pathlib import Path
from typing import Any

import faiss
import pytest
from typer.testing import CliRunner

from catalog_ingest import ingest_manifest
from catalog_ingest.audit import check
from cli.main import app
from lookalike.imaging import decode_image
from service.runtime import Runtime
from service.search import SearchRequest
from tests.conftest import RuntimeFactory
from tests.images import CLOTHING_IMAGES, clothing_photos

PHOTOS = clothing_photos(8)
DEAD_PID = 4_000_000  # above any pid_max: never a live process


def manifest(path: Path, n: int) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["item_id", "image", "title", "price"])
        for i in range(n):
            writer.writerow([f"item-{i}", PHOTOS[i].name, f"Item {i}", 10 + i])
    return path


def ingest(runtime: Runtime, path: Path) -> Any:
    return ingest_manifest(runtime.ingest_parts(), path, "shop", images_root=CLOTHING_IMAGES, progress=False)


@pytest.fixture
def shop(make_runtime: RuntimeFactory, tmp_path: Path) -> Runtime:
    runtime = make_runtime()
    ingest(runtime, manifest(tmp_path / "a.csv", 5))
    ingest(runtime, manifest(tmp_path / "b.csv", 7))  # a second version
    assert len(runtime.index_store.versions("shop")) == 2
    return runtime


def cli(runtime: Runtime, *args: str) -> Any:
    env = {"LOOKALIKE_DATA_DIR": str(runtime.settings.data_dir), "LOOKALIKE_DETECTOR__SPEC": "none"}
    return CliRunner().invoke(app, list(args), env=env)


def test_a_healthy_catalog_checks_clean(shop: Runtime) -> None:
    audit = check(shop.store, shop.index_store)
    assert audit.clean and audit.items == {"shop": 7}, audit.findings
    result = cli(shop, "check")
    assert result.exit_code == 0 and "shop: 7 items, clean" in result.output


def test_check_finds_orphans_corruption_and_drift_and_repair_fixes_them(shop: Runtime) -> None:
    cdir = shop.index_store.catalog_dir("shop")
    orphan = cdir / f".publish-{DEAD_PID}-abc"
    orphan.mkdir()
    (orphan / "index.faiss").write_bytes(b"half an index")
    old = shop.index_store.versions("shop")[0].version
    (cdir / old / "index.faiss").write_bytes(b"bit rot")
    shop.store.apply_feed("shop", [], ["item-6"])  # a row gone behind the index's back

    result = cli(shop, "check")
    assert result.exit_code == 1, result.output
    for needle in (
        "shop: 6 items, NOT CLEAN",
        f"orphan: temporary shop/.publish-{DEAD_PID}-abc left by a writer that is gone",
        f"corrupt-version: {old} (an old version): checksum mismatch",
        "vectors-without-rows: 1 indexed vectors whose rows are gone (items item-6)",
    ):
        assert needle in result.output, result.output
    assert str(shop.settings.data_dir) not in result.output

    dry = cli(shop, "repair")
    assert dry.exit_code == 0 and "dry run: nothing changed" in dry.output
    assert orphan.exists() and (cdir / old).exists()

    fixed = cli(shop, "repair", "--apply")
    assert fixed.exit_code == 0, fixed.output
    assert "clean" in fixed.output.splitlines()[-1]
    assert not orphan.exists() and not (cdir / old).exists()
    assert check(shop.store, shop.index_store).clean
    hit = shop.search.search(decode_image(PHOTOS[6].read_bytes()), SearchRequest(catalog="shop", k=1))
    assert hit.regions[0].matches[0].item.item_id != "item-6"


def test_a_corrupt_live_version_is_replaced_by_the_newest_good_one(shop: Runtime) -> None:
    versions = [m.version for m in shop.index_store.versions("shop")]
    live = shop.index_store.current_version("shop")
    assert live == versions[-1]
    (shop.index_store.catalog_dir("shop") / live / "payload.npz").write_bytes(b"")
    assert not check(shop.store, shop.index_store).clean
    assert cli(shop, "repair", "--apply").exit_code == 0
    assert shop.index_store.current_version("shop") != live
    assert check(shop.store, shop.index_store).clean  # republished: the 7 items are all indexed again


def test_gc_sweeps_orphaned_publish_folders_but_not_live_ones(shop: Runtime) -> None:
    cdir = shop.index_store.catalog_dir("shop")
    dead = cdir / f".publish-{DEAD_PID}-x"
    dead.mkdir()
    alive = cdir / f".publish-{os.getpid()}-y"  # a publish in progress in a live process
    alive.mkdir()
    result = cli(shop, "gc")
    assert result.exit_code == 0 and "removed 1 orphaned temporary" in result.output
    assert not dead.exists() and alive.exists()


def test_a_full_disk_during_publish_fails_cleanly_and_the_previous_version_keeps_serving(
    shop: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = shop.index_store.live_version("shop")

    def disk_full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(faiss, "write_index", disk_full)
    bigger = manifest(tmp_path / "c.csv", 8)
    with pytest.raises(OSError, match="No space left"):
        ingest(shop, bigger)
    assert shop.index_store.live_version("shop") == live
    assert not [p for p in shop.index_store.catalog_dir("shop").iterdir() if p.name.startswith(".publish-")]
    hit = shop.search.search(decode_image(PHOTOS[2].read_bytes()), SearchRequest(catalog="shop", k=1))
    assert hit.index_version == live and hit.regions[0].matches[0].item.item_id == "item-2"
    assert not check(shop.store, shop.index_store).clean  # item-7's row waits for an index

    result = cli(shop, "ingest", str(bigger), "--catalog", "shop", "--images-root", str(CLOTHING_IMAGES))
    assert result.exit_code == 1, result.output
    assert "No space left on device" in result.output and "keeps serving" in result.output
    assert "Traceback" not in result.output

    monkeypatch.undo()  # space freed: the rerun publishes, and all is clean
    report = ingest(shop, bigger)
    assert report.published and check(shop.store, shop.index_store).clean
