"""``lookalike eval --adapt``: fit a retailer's adapter from labelled photos, then measure with it.

The labelled photos (``item_id,image``, e.g. the grocery benchmark's ``adapt.csv`` of ``train/``
photos) are embedded whole by the configured (frozen) embedder, the catalog's photos likewise, and
``embedder.adapters.fit_adapter`` fits the adapter (its own held-out photos give the before/after
figures). The benchmark then runs with ``embedder.adapter`` set to the file, so the catalog is
ingested and every query searched through the adapted embedder, exactly as a server would.
With ``as_references`` the labelled photos are also catalog photos of their items.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from embedder import load_embedder
from embedder.adapters import FitReport, fit_adapter
from embedder.adapters.labelled import embed_paths, read_labelled_photos
from evaluation.benchmark import Benchmark, file_sha256
from evaluation.runner import catalog_image_paths
from lookalike.errors import ManifestError
from lookalike.settings import Settings


def adapt_benchmark(
    bench: Benchmark,
    settings: Settings,
    labelled: Path,
    out: Path,
    *,
    as_references: bool = False,
    max_steps: int = 600,
    shrinkage: float = 0.1,
) -> tuple[Benchmark, Settings, FitReport]:
    """The benchmark (with the extra references if asked) and settings that use the new adapter."""
    rows = read_labelled_photos(labelled)
    catalog = catalog_image_paths(bench)
    unknown = sorted({item for item, _ in rows} - set(catalog))
    if unknown:
        raise ManifestError(f"{labelled}: {len(unknown)} item(s) not in the catalog, e.g. {unknown[:3]}")
    frozen_settings = settings.embedder.model_copy(update={"adapter": None})
    frozen = load_embedder(frozen_settings, settings.onnx_dir)
    cache = out / "adapt-vectors.npz"
    digest = file_sha256(labelled) + file_sha256(bench.catalog_csv) + frozen.spec
    if cache.is_file() and str(np.load(cache)["digest"]) == digest:
        with np.load(cache) as z:
            photos, refs = z["photos"], z["refs"]
    else:
        photos = embed_paths(frozen, [p for _, p in rows])
        refs = embed_paths(frozen, list(catalog.values()))
        out.mkdir(parents=True, exist_ok=True)
        np.savez(cache, photos=photos, refs=refs, digest=np.asarray(digest))
    adapter, report = fit_adapter(
        photos,
        [item for item, _ in rows],
        refs,
        list(catalog),
        base_spec=frozen.spec,
        measure_references=as_references,
        max_steps=max_steps,
        shrinkage=shrinkage,
    )
    path = adapter.save(out / "adapter")
    (out / "adapt-report.json").write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
    adapted = settings.model_copy(
        update={"embedder": settings.embedder.model_copy(update={"adapter": path.resolve()})}
    )
    if as_references:
        bench = with_references(bench, rows, out / "catalog-with-references.csv")
    return bench, adapted, report


def with_references(bench: Benchmark, rows: list[tuple[str, Path]], path: Path) -> Benchmark:
    """A copy of the catalog manifest with every labelled photo as one more image of its item."""
    with bench.catalog_csv.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = list(reader.fieldnames or [])
        catalog = list(reader)
    first = {row["item_id"]: row for row in catalog}
    for row in catalog:
        if not Path(row["image"]).is_absolute():
            row["image"] = str((bench.root / row["image"]).resolve())
    extra = [{**first[item], "image": str(image.resolve())} for item, image in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(catalog + extra)
    return replace(bench, catalog_csv=path, catalog_sha256=file_sha256(path))


__all__ = ["adapt_benchmark", "with_references"]
