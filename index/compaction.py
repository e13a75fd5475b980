"""Fold a catalog's delta segments into a new base version, without going back to the database.

The live rows (base rows not deleted, delta rows not superseded) are read from the version's
exact vectors and the segments, rebuilt with the index the builder picks for the new size,
and published; segments appended while the build ran are carried over on top of it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from index.builder import plan_index
from index.live import LiveIndex
from index.versions import IndexManifest, IndexStore


class LiveRows:
    """The live vectors of a ``LiveIndex`` in a given row order, readable by slice or row list
    (what the builder and the exact-store writer need), without materialising them all."""

    def __init__(self, live: LiveIndex, order: npt.NDArray[np.int64]) -> None:
        base_alive = np.flatnonzero(~live.base_dead)
        delta_alive = np.flatnonzero(~live.delta_dead)
        # Row r of the live payload is base row base_alive[r], or delta row delta_alive[r - nb].
        self._source = np.concatenate([base_alive, -1 - delta_alive])[order]
        self._live = live
        self.shape = (len(order), live.dim)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: Any) -> npt.NDArray[np.float32]:
        src = self._source[rows]
        out = np.empty((len(src), self.shape[1]), dtype=np.float32)
        base = src >= 0
        if base.any():
            out[base] = self._live.base.exact_rows(src[base])
        if (~base).any():
            out[~base] = self._live.delta_vectors[-1 - src[~base]]
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> npt.NDArray[Any]:
        full = self[slice(None)]
        return full if dtype is None else full.astype(dtype)


def compact(
    store: IndexStore,
    catalog: str,
    *,
    factory: str = "auto",
    memory_budget_mb: float = 1024,
    pca_dim: int = 0,
    use_gpu: bool = False,
    force: bool = False,
) -> IndexManifest | None:
    """A new base version holding base + deltas; None when there was nothing to fold in."""
    live = store.load_live(catalog)
    if live.seq == 0 and not force:
        return None
    manifest = store.read_manifest(catalog, live.base_version)
    payload = live.live_payload()
    order = np.argsort(payload.vector_ids, kind="stable")
    plan = plan_index(
        len(order), live.dim, factory=factory, memory_budget_mb=memory_budget_mb, pca_dim=pca_dim
    )
    return store.build_and_publish(
        catalog,
        LiveRows(live, order),  # type: ignore[arg-type]
        payload.take(order),
        plan,
        model_spec=manifest.model_spec,
        use_gpu=use_gpu,
        carry_from=(live.base_version, live.seq),
    )
