"""Catalog-scale vectors that look like real ones: a mixture fitted to real MobileNetV2 embeddings.

Method (stated in docs/INDEX.md): k-means (faiss.Kmeans, K components) over the real
1280-d catalog vectors; each component is a Gaussian at its k-means centroid with the
*pooled* within-component covariance (full rank, so its eigen-spectrum is the real one,
not isotropic noise) scaled per component to that component's real spread; components are
drawn with their real frequencies; every sample is L2-normalised like a real embedding.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


def normalise(x: F32) -> F32:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@dataclass
class Mixture:
    """A fitted Gaussian mixture with tied covariance shape and per-component scale."""

    means: F32  # (K, d)
    weights: npt.NDArray[np.float64]  # (K,)
    scales: F32  # (K,) standard-deviation multiplier per component
    root: F32  # (d, d): z @ root ~ N(0, pooled covariance)

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    @staticmethod
    def fit(real: F32, components: int = 256, seed: int = 0, shrink: float = 5.0) -> Mixture:
        real = normalise(real)
        n, d = real.shape
        k = min(components, max(1, n // 8))
        km = faiss.Kmeans(d, k, niter=25, seed=seed, verbose=False, min_points_per_centroid=1)
        km.train(real)
        _, assign = km.index.search(real, 1)
        assign = assign.ravel()
        counts = np.bincount(assign, minlength=k).astype(np.float64)
        means = np.zeros((k, d), dtype=np.float64)
        np.add.at(means, assign, real)
        means /= np.maximum(counts, 1)[:, None]
        resid = real - means[assign]
        pooled = resid.T.astype(np.float64) @ resid / max(n - k, 1)
        evals, evecs = np.linalg.eigh(pooled)
        root = (evecs * np.sqrt(np.clip(evals, 0, None))).T  # z @ root has covariance `pooled`
        spread = np.bincount(assign, weights=(resid**2).sum(1), minlength=k)
        per = spread / np.maximum(counts, 1)
        avg = (resid**2).sum() / n
        # Few members per component: shrink the spread estimate towards the pooled one.
        var_ratio = (counts * per / avg + shrink) / (counts + shrink)
        keep = counts > 0
        return Mixture(
            means=means[keep].astype(np.float32),
            weights=counts[keep] / counts[keep].sum(),
            scales=np.sqrt(var_ratio[keep]).astype(np.float32),
            root=root.astype(np.float32),
        )

    def sample(self, n: int, seed: int, chunk: int = 50_000) -> Iterator[tuple[F32, npt.NDArray[np.int64]]]:
        """``n`` unit vectors and their component ids, in chunks (1M x 1280 float32 is 5 GB)."""
        rng = np.random.default_rng(seed)
        done = 0
        while done < n:
            m = min(chunk, n - done)
            comp = rng.choice(len(self.weights), size=m, p=self.weights)
            z = rng.standard_normal((m, self.dim), dtype=np.float32)
            x = self.means[comp] + self.scales[comp, None] * (z @ self.root)
            yield normalise(x), comp.astype(np.int64)
            done += m

    def sample_all(self, n: int, seed: int) -> F32:
        return np.concatenate([x for x, _ in self.sample(n, seed)])


def perturb(x: F32, cosine: float, seed: int) -> F32:
    """Isotropic noise scaled so each result has about ``cosine`` similarity to its source row."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(x.shape).astype(np.float32)
    noise *= np.tan(np.arccos(cosine)) / np.sqrt(x.shape[1])
    return normalise(x + noise)


def load_real_vectors(data_dir: Path, catalog: str, cache: Path) -> F32:
    """The real catalog embeddings of the demo catalog's store (the embedder it was ingested with:
    MobileNetV2 when docs/INDEX.md was measured), cached as .npy.

    The model spec comes from the catalog's published index manifest (it names the weights file).
    """
    if cache.is_file():
        return np.asarray(np.load(cache), dtype=np.float32)
    from catalog import CatalogStore
    from index.versions import IndexStore

    versions = IndexStore(data_dir / "indexes").versions(catalog)
    if not versions:
        raise SystemExit(f"catalog {catalog!r} has no index under {data_dir}: run `make demo-ingest` first")
    store = CatalogStore(f"sqlite:///{(data_dir / 'lookalike.db').resolve()}")
    vectors = store.region_vectors(catalog, versions[-1].model_spec)[0]
    store.close()
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors.astype(np.float32))
    return np.asarray(vectors, dtype=np.float32)
