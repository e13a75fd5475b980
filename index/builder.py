"""Choosing and building the FAISS index for a catalog of a given size and memory budget.

Measured on MobileNetV2-like vectors (docs/INDEX.md): up to ~50k vectors an exact Flat index
is fast enough and fits; beyond that an uncentered PCA to 128 dimensions, an IVF over
4*sqrt(n) lists with 8-bit scalar codes, and a re-rank of 10*k candidates on the exact
vectors (16-bit, memory-mapped) keeps recall@10 >= 0.95 at a fraction of the RAM; beyond a
few million, OPQ + IVF-PQ codes take the place of SQ8. A factory string overrides the choice.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from index import threads
from index.exact import as_float32
from index.gpu import gpu_available, to_cpu, to_gpu
from lookalike.execution import usable_cores
from lookalike.types import Vectors

FLAT_MAX = 50_000
FLAT_MAX_BYTES = 64 * 2**20
"""Exact search reads every vector per query: up to 50k vectors and 64 MB (12k at 1280-d,
about 10 ms per query on one core), it is fast enough and needs no training."""
SQ_MAX = 5_000_000
"""Up to this many vectors the IVF keeps 8-bit scalar codes; beyond it, PQ codes."""
DEFAULT_PCA = 128
DEFAULT_RERANK = 10
DEFAULT_BUDGET_MB = 1024
TRAIN_POINTS_PER_LIST = 40
ADD_CHUNK = 65_536

_PCA = re.compile(r"^PCA(\d+),")
_RERANK = re.compile(r",Rerank(\d+)$")


@dataclass(frozen=True)
class IndexPlan:
    """What to build and how to search it; recorded in the version's manifest.

    ``factory`` is the FAISS factory string of the index after the optional PCA. The PCA is
    uncentered (trained on x and -x), so inner products keep their meaning in the reduced space.
    ``rerank``: fetch ``k * rerank`` candidates and re-score them on the exact vectors.
    """

    factory: str = "Flat"
    dim: int = 0
    pca_dim: int = 0
    nprobe: int = 0
    ef_search: int = 0
    rerank: int = 0
    train_size: int = 0
    reason: str = ""
    requested: str = ""
    """The factory setting this plan was made for ("auto" or a factory string)."""

    @property
    def description(self) -> str:
        """The full recipe as one factory-like string, e.g. ``PCA128,IVF4096,SQ8,Rerank10``."""
        text = f"PCA{self.pca_dim},{self.factory}" if self.pca_dim else self.factory
        return f"{text},Rerank{self.rerank}" if self.rerank else text

    @property
    def exact(self) -> bool:
        """True when the index itself scores exactly (no approximation to correct)."""
        return self.factory == "Flat" and not self.pca_dim

    @property
    def nlist(self) -> int:
        match = re.search(r"IVF(\d+)", self.factory)
        return int(match.group(1)) if match else 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> IndexPlan:
        return IndexPlan(**{k: v for k, v in data.items() if k in IndexPlan.__dataclass_fields__})

    def with_search(self, nprobe: int = 0, ef_search: int = 0, rerank: int | None = None) -> IndexPlan:
        """Override search-time parameters (0 / None keeps the planned value)."""
        return replace(
            self,
            nprobe=nprobe or self.nprobe,
            ef_search=ef_search or self.ef_search,
            rerank=self.rerank if rerank is None else rerank,
        )


def _pow2_nlist(n: int) -> int:
    """About 4*sqrt(n) lists (a power of two), no more than the data can train (39 points each)."""
    target = 4 * math.sqrt(max(n, 1))
    nlist = 2 ** round(math.log2(target))
    while nlist > 16 and nlist * 39 > n:
        nlist //= 2
    return int(min(65536, max(16, nlist)))


def default_nprobe(nlist: int) -> int:
    """About 1.25*sqrt(nlist) (40 of 1024, 80 of 4096): recall@10 about 0.97 at 100k and at 1M
    MobileNetV2-like vectors with the exact re-rank (docs/INDEX.md)."""
    return int(min(nlist, max(16, 8 * round(1.25 * math.sqrt(nlist) / 8))))


def plan_index(
    n: int,
    dim: int,
    *,
    factory: str = "auto",
    memory_budget_mb: float = DEFAULT_BUDGET_MB,
    pca_dim: int = 0,
    nprobe: int = 0,
    ef_search: int = 0,
    rerank: int | None = None,
) -> IndexPlan:
    """The index for ``n`` vectors of ``dim`` dimensions within ``memory_budget_mb`` of RAM.

    ``factory`` other than "auto" is a FAISS factory string, optionally starting with
    ``PCA<d>,`` (our uncentered PCA) and ending with ``,Rerank<r>``.
    """
    plan = (
        _explicit(factory, dim)
        if factory.strip().lower() != "auto"
        else _auto(n, dim, memory_budget_mb, pca_dim)
    )
    if plan.nlist:
        train = min(n, max(TRAIN_POINTS_PER_LIST * plan.nlist, 50_000))
        plan = replace(plan, train_size=train, nprobe=plan.nprobe or default_nprobe(plan.nlist))
    elif plan.pca_dim or not faiss.index_factory(dim, plan.factory, faiss.METRIC_INNER_PRODUCT).is_trained:
        plan = replace(plan, train_size=min(n, 100_000))  # PQ codebooks, SQ ranges
    if "HNSW" in plan.factory:
        plan = replace(plan, ef_search=plan.ef_search or 128)
    return replace(plan.with_search(nprobe, ef_search, rerank), requested=factory)


def _explicit(factory: str, dim: int) -> IndexPlan:
    text = factory.strip()
    pca = 0
    rerank: int | None = None
    if match := _PCA.match(text):
        pca, text = int(match.group(1)), text[match.end() :]
    if match := _RERANK.search(text):
        rerank, text = int(match.group(1)), text[: match.start()]
    if pca and not 0 < pca <= dim:
        raise ValueError(f"factory {factory!r}: PCA dimension must be between 1 and {dim}")
    if rerank is None:
        # A lossy index is re-ranked on the exact vectors unless the string says Rerank0.
        rerank = DEFAULT_RERANK if pca or any(t in text for t in ("SQ", "PQ", "LSH", "RQ")) else 0
    try:
        faiss.index_factory(pca or dim, text, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise ValueError(f"factory {factory!r} is not a valid FAISS factory string: {exc}") from exc
    return IndexPlan(factory=text, dim=dim, pca_dim=pca, rerank=rerank, reason="factory string from settings")


def _auto(n: int, dim: int, budget_mb: float, pca_dim: int) -> IndexPlan:
    budget = budget_mb * 1024 * 1024
    if n <= FLAT_MAX and n * dim * 4 <= min(budget, FLAT_MAX_BYTES):
        return IndexPlan("Flat", dim, reason=f"{n} vectors of {dim}-d: exact search is fast enough")
    nlist = _pow2_nlist(n)
    reduced = pca_dim or (DEFAULT_PCA if dim > DEFAULT_PCA * 2 else 0)
    width = reduced or dim
    if n <= SQ_MAX and n * (width + 8) <= budget:
        return IndexPlan(
            f"IVF{nlist},SQ8",
            dim,
            pca_dim=reduced,
            rerank=DEFAULT_RERANK,
            reason=f"{n} vectors: IVF with 8-bit codes ({width} B/vector) + exact re-rank",
        )
    # Bytes per vector the budget leaves for PQ codes (ids take 8).
    per_vector = max(8, int(budget / max(n, 1)) - 8)
    m = max(8, min(64, 2 ** int(math.log2(per_vector))))
    while width % m:
        m //= 2
    return IndexPlan(
        f"OPQ{m},IVF{nlist},PQ{m}",
        dim,
        pca_dim=reduced,
        rerank=DEFAULT_RERANK * 5,  # PQ32 + 200 candidates reached only 0.89 at 1M (docs/INDEX.md)
        reason=f"{n} vectors: OPQ + IVF-PQ ({m} B/vector) + exact re-rank",
    )


def estimate_bytes(plan: IndexPlan, n: int) -> int:
    """Approximate RAM of the FAISS index (codes, ids, centroids, links), not of the exact vectors."""
    width = plan.pca_dim or plan.dim
    f = plan.factory
    if f == "Flat":
        per = width * 4
    elif "SQ8" in f:
        per = width
    elif "SQ4" in f:
        per = width // 2
    elif m := re.search(r"PQ(\d+)(?:x(\d+))?", f):
        per = int(m.group(1)) * int(m.group(2) or 8) // 8
    else:
        per = width * 4
    if "IVF" in f:
        per += 8
    if m := re.search(r"HNSW(\d+)", f):
        per += int(m.group(1)) * 2 * 4 + 8
    fixed = plan.nlist * width * 4 + (plan.dim * width * 4 if plan.pca_dim else 0)
    return n * per + fixed


# -- building --------------------------------------------------------------------------------


def uncentered_pca(sample: npt.NDArray[np.float32], out_dim: int) -> Any:
    """A FAISS PCAMatrix with zero mean: trained on the sample and its negation."""
    pca = faiss.PCAMatrix(sample.shape[1], out_dim)
    pca.train(np.ascontiguousarray(np.vstack([sample, -sample]), dtype=np.float32))
    return pca


def training_sample(vectors: npt.NDArray[Any], size: int, seed: int = 0) -> npt.NDArray[np.float32]:
    n = len(vectors)
    if size >= n:
        return as_float32(np.asarray(vectors[:n]))
    rows = np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))
    return as_float32(np.asarray(vectors[rows]))


def build_faiss(
    vectors: Vectors | npt.NDArray[Any], plan: IndexPlan, *, use_gpu: bool = False
) -> tuple[Any, dict[str, float]]:
    """Train and fill the index the plan describes, adding in chunks (an int16 exact store is fine).

    On a faiss-gpu build with a visible GPU, the IVF/Flat part trains and fills on the GPU
    (``index_cpu_to_gpu``) and is copied back for storage; the PCA and HNSW stay on the CPU.
    """
    timings: dict[str, float] = {}
    threads.set_team(usable_cores())  # a build is worth every core
    start = time.perf_counter()
    sample = training_sample(vectors, plan.train_size) if plan.train_size else None
    pca = uncentered_pca(sample, plan.pca_dim) if plan.pca_dim and sample is not None else None

    def reduce(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.ascontiguousarray(pca.apply(x) if pca is not None else x, dtype=np.float32)

    cpu_inner = faiss.index_factory(plan.pca_dim or plan.dim, plan.factory, faiss.METRIC_INNER_PRODUCT)
    inner = to_gpu(cpu_inner) if use_gpu and gpu_available() and "HNSW" not in plan.factory else cpu_inner
    if not inner.is_trained:
        assert sample is not None, "a trained index needs a training sample"
        inner.train(reduce(sample))
    timings["train_s"] = time.perf_counter() - start
    start = time.perf_counter()
    for lo in range(0, len(vectors), ADD_CHUNK):
        inner.add(reduce(as_float32(np.asarray(vectors[lo : lo + ADD_CHUNK]))))
    timings["add_s"] = time.perf_counter() - start
    if inner is not cpu_inner:
        inner = to_cpu(inner)
    return (faiss.IndexPreTransform(pca, inner) if pca is not None else inner), timings
