"""``lookalike adapt``: fit a catalog's domain adapter from a retailer's labelled photos.

The catalog's own region vectors (stored at ingest, under the frozen embedder's name) are the
references every labelled photo must land nearest to, so nothing of the catalog is embedded again
to fit. The adapter is written as ``<data_dir>/adapters/<catalog>/adapter-<hash>.pt`` with its report
beside it (``.json``): a new fit never overwrites an older one, and the hash is part of the vectors'
name once ``embedder.adapter`` points at it, so a server refuses an index built with any other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from embedder import load_embedder
from embedder.adapters import FitReport, fit_adapter
from embedder.adapters.labelled import embed_paths, read_labelled_photos
from lookalike.errors import LookalikeError, ManifestError
from service.runtime import Runtime


@dataclass(frozen=True)
class AdaptResult:
    path: Path
    spec: str
    """The vectors' name with this adapter (what the catalog's index must be built with)."""
    base_spec: str
    report: FitReport


def adapters_dir(runtime: Runtime, catalog: str) -> Path:
    return runtime.settings.data_dir / "adapters" / catalog


def adapt_catalog(
    runtime: Runtime,
    catalog: str,
    labelled: Path,
    *,
    held_out_share: float = 0.2,
    max_steps: int = 600,
    measure_references: bool = False,
    seed: int = 0,
    shrinkage: float = 0.1,
) -> AdaptResult:
    """Fit, save and report an adapter for ``catalog`` from the ``item_id,image`` rows in ``labelled``."""
    settings = runtime.settings
    if settings.embedder.adapter is None:
        frozen = runtime.embedder
    else:  # fit against the frozen embedder's vectors, never on top of another adapter
        frozen = load_embedder(
            settings.embedder.model_copy(update={"adapter": None}),
            settings.onnx_dir,
            execution=runtime.execution,
        )
    runtime.store.get_catalog(catalog)  # UnknownCatalogError names it
    refs, _ids, ref_items, _cats = runtime.store.region_vectors(catalog, frozen.spec)
    if len(refs) == 0:
        raise LookalikeError(
            f"catalog {catalog!r} has no vectors of {frozen.spec!r}: ingest it with this embedder and no "
            "adapter first (the adapter is fitted against the catalog's own vectors)"
        )
    rows = read_labelled_photos(labelled)
    known = set(ref_items.tolist())
    unknown = [(n, item) for n, (item, _) in enumerate(rows, start=2) if item not in known]
    if unknown:
        first = ", ".join(f"line {n} ({item})" for n, item in unknown[:5])
        raise ManifestError(
            f"{labelled}: {len(unknown)} row(s) name items not in catalog {catalog!r}: {first}"
        )
    photos = embed_paths(frozen, [p for _, p in rows])
    adapter, report = fit_adapter(
        photos,
        [item for item, _ in rows],
        refs,
        ref_items.tolist(),
        base_spec=frozen.spec,
        held_out_share=held_out_share,
        max_steps=max_steps,
        seed=seed,
        measure_references=measure_references,
        shrinkage=shrinkage,
    )
    adapter.meta.update({"catalog": catalog, "labelled": str(labelled)})
    path = adapter.save(adapters_dir(runtime, catalog))
    path.with_suffix(".json").write_text(json.dumps(adapter.meta, indent=2) + "\n", encoding="utf-8")
    return AdaptResult(path, f"{frozen.spec}+adapter-{adapter.digest}", frozen.spec, report)


__all__ = ["AdaptResult", "adapt_catalog", "adapters_dir"]
