"""A retailer's domain fit: the adapter learns from a tiny labelled set, is versioned by its content
with the vectors' name, and a server refuses an index built with another adapter (or none)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from typer.testing import CliRunner

from catalog_ingest.pipeline import ingest_manifest
from cli.main import app
from embedder import Embedder
from embedder.adapters import AdaptedEmbedder, fit_adapter, load_adapter, recall_at
from embedder.flip import FlipAveraged
from index import IndexVersionError
from tests.conftest import CPU_EMBEDDER, RuntimeFactory
from tests.images import clothing_photos


def _domain_gap(
    items: int, photos_per_item: int, seed: int
) -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
    """Catalog vectors, and labelled photos of the same items pushed off by strong noise in a few
    fixed directions (the retailer's own photo style)."""
    rng = np.random.default_rng(seed)
    dim = 48
    centres = rng.normal(size=(items, dim))
    nuisance = rng.normal(size=(3, dim))
    refs = centres + 0.2 * rng.normal(size=centres.shape)
    photos, labels = [], []
    for i in range(items):
        for _ in range(photos_per_item):
            photos.append(centres[i] + 0.3 * rng.normal(size=dim) + rng.normal(size=3) * 2.5 @ nuisance)
            labels.append(f"item-{i}")
    norm = lambda x: (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)  # noqa: E731
    return norm(np.asarray(photos)), labels, norm(refs), [f"item-{i}" for i in range(items)]


def test_fit_beats_the_frozen_vectors_on_held_out_photos() -> None:
    photos, labels, refs, ref_items = _domain_gap(40, 6, 0)
    adapter, report = fit_adapter(photos, labels, refs, ref_items, base_spec="toy", max_steps=240, hidden=64)
    assert report.photos == 240 and report.items_with_photos == 40 and report.held_out == 40 * 1
    before, after = report.recall["frozen"], report.recall["adapter"]
    assert after["@1"] >= before["@1"] + 0.15, report.recall
    assert adapter.base_spec == "toy" and adapter.meta["fit"]["steps"] == report.steps


def test_as_references_measures_both_and_their_sum() -> None:
    photos, labels, refs, ref_items = _domain_gap(20, 6, 1)
    _, report = fit_adapter(
        photos, labels, refs, ref_items, base_spec="toy", max_steps=120, hidden=32, measure_references=True
    )
    assert set(report.recall) == {"frozen", "adapter", "frozen+references", "adapter+references"}
    assert all(0 <= r["@1"] <= r["@10"] <= 1 for r in report.recall.values())


def test_the_lda_projection_is_part_of_the_version_and_an_older_head_only_file_still_loads(
    tmp_path: Path,
) -> None:
    photos, labels, refs, ref_items = _domain_gap(10, 4, 3)
    adapter, _ = fit_adapter(photos, labels, refs, ref_items, base_spec="toy", max_steps=30, hidden=16)
    head_only, _ = fit_adapter(
        photos, labels, refs, ref_items, base_spec="toy", max_steps=30, hidden=16, lda=False
    )
    assert adapter.projection is not None and head_only.projection is None
    assert adapter.digest != head_only.digest
    again = load_adapter(head_only.save(tmp_path))
    assert again.projection is None and again.digest == head_only.digest
    out = adapter.apply(photos)
    assert out.shape == photos.shape and np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)


def test_recall_scores_an_item_by_its_best_reference() -> None:
    refs = np.eye(3, dtype=np.float32)
    q = np.asarray([[0.0, 0.1, 1.0], [1.0, 0.0, 0.0]], np.float32)
    assert recall_at(q, ["b", "a"], refs, ["a", "a", "b"], ks=(1,)) == {"@1": 1.0}


def test_fit_refuses_items_outside_the_catalog() -> None:
    photos, labels, refs, ref_items = _domain_gap(4, 3, 2)
    with pytest.raises(ValueError, match="not in the catalog"):
        fit_adapter(photos, [*labels[:-1], "nope"], refs, ref_items, base_spec="toy")


def test_adapter_file_is_versioned_by_content_and_checks_its_embedder(
    embedder: Embedder, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    refs = rng.normal(size=(6, embedder.dim)).astype(np.float32)
    refs /= np.linalg.norm(refs, axis=1, keepdims=True)
    photos = refs.repeat(3, 0) + 0.05 * rng.normal(size=(18, embedder.dim)).astype(np.float32)
    items = [f"i{n}" for n in range(6)]
    adapter, _ = fit_adapter(
        photos, [i for i in items for _ in range(3)], refs, items, base_spec=embedder.spec, max_steps=20
    )
    path = adapter.save(tmp_path)
    assert path.name == f"adapter-{adapter.digest}.pt"
    again = load_adapter(path)
    assert again.digest == adapter.digest and again.base_spec == embedder.spec
    assert again.projection is not None and again.projection[1].shape == (embedder.dim, embedder.dim)
    assert np.allclose(again.apply(photos), adapter.apply(photos), atol=1e-6)
    adapted = AdaptedEmbedder(embedder, again)
    assert adapted.spec == f"{embedder.spec}+adapter-{adapter.digest}" and adapted.dim == embedder.dim
    with Image.open(clothing_photos(1)[0]) as img:
        v = adapted.embed_images([img.convert("RGB")])
    assert v.shape == (1, embedder.dim) and abs(float(np.linalg.norm(v)) - 1) < 1e-4
    adapter.base_spec = "torchvision:other"
    with pytest.raises(ValueError, match="fitted on 'torchvision:other' vectors"):
        AdaptedEmbedder(embedder, adapter)
    (tmp_path / "junk.pt").write_bytes(b"not torch")
    with pytest.raises(ValueError, match="is not a lookalike adapter"):
        load_adapter(tmp_path / "junk.pt")


def test_flip_averaging_is_named_and_mirror_invariant(embedder: Embedder) -> None:
    flip = FlipAveraged(embedder)
    assert flip.spec == embedder.spec + "+flip"
    with Image.open(clothing_photos(1)[0]) as img:
        photo = img.convert("RGB")
    a, b = flip.embed_images([photo, ImageOps.mirror(photo)])
    assert np.allclose(a, b, atol=1e-4) and abs(float(np.linalg.norm(a)) - 1) < 1e-4


def _catalog(tmp_path: Path, n: int) -> tuple[Path, Path]:
    """A catalog of n clothing photos, and labelled "retailer photos" of them: crops and mirrors."""
    photos = clothing_photos(n, start=40)
    images = tmp_path / "images"
    images.mkdir()
    manifest, labelled = tmp_path / "catalog.csv", tmp_path / "labelled.csv"
    with manifest.open("w", newline="") as f, labelled.open("w", newline="") as g:
        cat, lab = csv.writer(f), csv.writer(g)
        cat.writerow(["item_id", "image", "title"])
        lab.writerow(["item_id", "image"])
        for i, p in enumerate(photos):
            cat.writerow([f"item-{i}", str(p), f"Item {i}"])
            with Image.open(p) as img:
                rgb = img.convert("RGB")
            w, h = rgb.size
            for k, view in enumerate(
                [ImageOps.mirror(rgb), rgb.crop((w // 8, h // 8, w - w // 8, h - h // 8)), rgb.rotate(8)]
            ):
                view.save(images / f"{i}-{k}.jpg", quality=80)
                lab.writerow([f"item-{i}", f"images/{i}-{k}.jpg"])
    return manifest, labelled


@pytest.mark.slow
def test_adapt_command_fits_reports_and_a_server_refuses_an_index_of_no_or_another_adapter(
    make_runtime: RuntimeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest, labelled = _catalog(tmp_path, 8)
    runtime = make_runtime()
    ingest_manifest(runtime.ingest_parts(), manifest, "shop", progress=False)
    data_dir = runtime.settings.data_dir
    monkeypatch.setenv("LOOKALIKE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LOOKALIKE_EMBEDDER__SPEC", CPU_EMBEDDER.spec)

    result = CliRunner().invoke(
        app, ["adapt", str(labelled), "--catalog", "shop", "--steps", "40", "--as-references"]
    )
    assert result.exit_code == 0, result.output
    assert "frozen" in result.output and "adapter+references" in result.output
    adapters = sorted((data_dir / "adapters" / "shop").glob("adapter-*.pt"))
    assert len(adapters) == 1 and adapters[0].with_suffix(".json").is_file()
    assert f"+adapter-{adapters[0].stem.removeprefix('adapter-')}" in result.output
    result = CliRunner().invoke(
        app, ["adapt", str(labelled), "--catalog", "shop", "--steps", "0", "--shrinkage", "0.5"]
    )
    assert result.exit_code == 0, result.output
    (other,) = set((data_dir / "adapters" / "shop").glob("adapter-*.pt")) - set(adapters)

    # A server with the adapter refuses the index built without it, until the catalog is ingested again.
    adapted = make_runtime(
        data_dir=data_dir, embedder=CPU_EMBEDDER.model_copy(update={"adapter": adapters[0]})
    )
    assert "+adapter-" in adapted.embedder.spec
    with pytest.raises(IndexVersionError, match="built with"):
        adapted.indexes.get("shop")
    report = ingest_manifest(adapted.ingest_parts(), manifest, "shop", progress=False)
    assert report.published
    version, live = adapted.indexes.get("shop")
    assert version == report.index_version and live.count == 8

    # Another fit is another adapter: a server with it refuses the index built with the first one.
    refit = make_runtime(data_dir=data_dir, embedder=CPU_EMBEDDER.model_copy(update={"adapter": other}))
    assert refit.embedder.spec != adapted.embedder.spec
    with pytest.raises(IndexVersionError, match="built with"):
        refit.indexes.get("shop")


def test_adapt_names_the_rows_of_unknown_items(
    make_runtime: RuntimeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest, labelled = _catalog(tmp_path, 2)
    runtime = make_runtime()
    ingest_manifest(runtime.ingest_parts(), manifest, "shop", progress=False)
    monkeypatch.setenv("LOOKALIKE_DATA_DIR", str(runtime.settings.data_dir))
    monkeypatch.setenv("LOOKALIKE_EMBEDDER__SPEC", CPU_EMBEDDER.spec)
    with labelled.open("a") as f:
        f.write("ghost,images/0-0.jpg\n")
    result = CliRunner().invoke(app, ["adapt", str(labelled), "--catalog", "shop"])
    assert result.exit_code == 2 and "line 8 (ghost)" in result.output
    result = CliRunner().invoke(app, ["adapt", str(labelled), "--catalog", "nope"])
    assert result.exit_code != 0 and "nope" in result.output
