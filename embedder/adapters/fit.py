"""Fit an adapter from labelled photos: each photo should land nearest to its own catalog item.

The loss is a softmax over the catalog's items whose class vectors ARE the items' reference vectors
passed through the same head (so the catalog side moves with the photo side, and an item no photo
names keeps its place); the references are also queries of their own item. Minibatches on the CPU,
a few hundred steps: minutes for thousands of photos. A seeded share of each item's photos is held
out to report recall before and after, and to pick the step count; the adapter that ships is then
fitted again on all the photos for that many steps. Last, a closed-form whitened LDA projection
(``lda.py``) is fitted on the head's outputs of the same photos plus the references (seconds): on the
grocery test split it takes recall@1 from 0.722 (head alone) to 0.762 (docs/EMBEDDER.md).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from embedder.adapters.adapter import Adapter
from embedder.adapters.lda import fit_lda
from embedder.device import on_one_torch_thread
from embedder.training.head import ResidualHead


@dataclass
class FitReport:
    """What ``lookalike adapt`` prints and the adapter file keeps."""

    photos: int
    items_with_photos: int
    catalog_items: int
    held_out: int
    steps: int
    seconds: float
    shrinkage: float = 0.1
    """The projection's within-item scatter shrinkage (``lda.fit_lda``)."""
    recall: dict[str, dict[str, float]] = field(default_factory=dict)
    """Held-out photos -> catalog items; keys ``frozen``, ``adapter``, and with ``--as-references``
    ``frozen+references``, ``adapter+references`` (the training photos as extra item references)."""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def recall_at(
    queries: np.ndarray,
    query_items: Sequence[str],
    refs: np.ndarray,
    ref_items: Sequence[str],
    ks: Sequence[int] = (1, 10),
) -> dict[str, float]:
    """Item-level recall@k: an item scores its best reference; ties keep catalog order."""
    names = sorted(set(ref_items))
    col = {n: i for i, n in enumerate(names)}
    ref_col = np.asarray([col[n] for n in ref_items])
    sims = queries @ refs.T
    scores = np.full((len(queries), len(names)), -np.inf, dtype=np.float32)
    for j in range(len(names)):
        scores[:, j] = sims[:, ref_col == j].max(axis=1)
    truth = np.asarray([col.get(n, -1) for n in query_items])
    order = np.argsort(-scores, axis=1, kind="stable")
    hit_rank = np.argmax(order == truth[:, None], axis=1)
    found = (order == truth[:, None]).any(axis=1)
    return {f"@{k}": float(np.mean(found & (hit_rank < k))) if len(queries) else 0.0 for k in ks}


def split_held_out(items: Sequence[str], share: float, seed: int) -> np.ndarray:
    """A boolean mask: ``share`` of each item's photos (none of an item with a single photo)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(items), dtype=bool)
    by_item: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        by_item.setdefault(item, []).append(i)
    for rows in by_item.values():
        n = round(len(rows) * share) if len(rows) > 1 else 0
        if n:
            mask[rng.choice(rows, n, replace=False)] = True
    return mask


def _train(
    x: np.ndarray,
    y: np.ndarray,
    refs: np.ndarray,
    ref_col: np.ndarray,
    steps: int,
    *,
    hidden: int,
    temperature: float,
    seed: int,
    every: int = 0,
    check: object = None,
) -> tuple[ResidualHead, list[tuple[int, float]]]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    head = ResidualHead(x.shape[1], hidden)
    opt = torch.optim.AdamW(head.parameters(), lr=2e-3, weight_decay=1e-4)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    rt, rc = torch.from_numpy(refs), torch.from_numpy(ref_col)
    n_items = int(ref_col.max()) + 1
    curve: list[tuple[int, float]] = []
    for step in range(1, steps + 1):
        head.train()
        rows = torch.from_numpy(rng.choice(len(x), min(256, len(x)), replace=False))
        r = head(rt)
        protos = torch.zeros(n_items, r.shape[1]).index_add_(0, rc, r)
        protos = nn.functional.normalize(protos, dim=1)
        logits_x = head(xt[rows]) @ protos.T / temperature
        logits_r = r @ protos.T / temperature
        loss = nn.functional.cross_entropy(logits_x, yt[rows]) + 0.5 * nn.functional.cross_entropy(
            logits_r, rc
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        if every and callable(check) and step % every == 0:
            curve.append((step, float(check(head.eval()))))
    return head.eval(), curve


@on_one_torch_thread
def fit_adapter(
    photos: np.ndarray,
    photo_items: Sequence[str],
    refs: np.ndarray,
    ref_items: Sequence[str],
    *,
    base_spec: str,
    held_out_share: float = 0.2,
    max_steps: int = 600,
    hidden: int = 512,
    temperature: float = 0.05,
    seed: int = 0,
    measure_references: bool = False,
    lda: bool = True,
    ref_weight: int = 5,
    shrinkage: float = 0.1,
) -> tuple[Adapter, FitReport]:
    """``photos`` (unit vectors of the frozen embedder) each name an item of ``ref_items`` (the
    catalog's reference vectors, one or more per item). Items no photo names stay in the softmax.
    ``max_steps=0`` trains no head: the projection alone (what wins on the richer vectors of
    ``concat:...`` + colour histograms, docs/EMBEDDER.md), in seconds. ``shrinkage`` pulls the
    projection's within-item scatter towards a scaled identity (``lda.fit_lda``); the grocery figures
    use 0.1 (0.7 won on grocery val/ and lost 0.02 recall@1 on test, docs/EMBEDDER.md)."""
    if not 0.0 <= shrinkage < 1.0:
        raise ValueError(f"shrinkage must be in [0, 1), not {shrinkage}")
    started = time.perf_counter()
    unknown = sorted(set(photo_items) - set(ref_items))
    if unknown:
        raise ValueError(f"{len(unknown)} labelled items are not in the catalog, e.g. {unknown[:3]}")
    if len(photos) < 2:
        raise ValueError("need at least 2 labelled photos")
    names = sorted(set(ref_items))
    col = {n: i for i, n in enumerate(names)}
    ref_col = np.asarray([col[n] for n in ref_items], dtype=np.int64)
    y = np.asarray([col[n] for n in photo_items], dtype=np.int64)
    photos = np.ascontiguousarray(photos, dtype=np.float32)
    refs = np.ascontiguousarray(refs, dtype=np.float32)
    held = split_held_out(photo_items, held_out_share, seed)
    items_arr = np.asarray(photo_items)
    recall: dict[str, dict[str, float]] = {}

    def with_projection(head: ResidualHead, rows: np.ndarray) -> Adapter:
        adapter = Adapter(head.eval(), base_spec)
        if lda:
            x = adapter.apply(np.concatenate([photos[rows], *[refs] * ref_weight]))
            labels = [*items_arr[rows], *list(ref_items) * ref_weight]
            adapter.projection = fit_lda(x, labels, shrinkage=shrinkage)
        return adapter

    def held_recall(adapter: Adapter, extra: bool = False) -> dict[str, float]:
        apply = adapter.apply
        q = apply(photos[held])
        g = apply(refs)
        g_items = list(ref_items)
        if extra:
            g = np.concatenate([g, apply(photos[~held])])
            g_items += list(items_arr[~held])
        return recall_at(q, items_arr[held], g, g_items)

    steps = max_steps
    if max_steps <= 0:  # no head: the closed-form projection alone (a 1-wide identity head)
        steps, hidden = 0, 1
    if held.any():
        identity = Adapter(ResidualHead(photos.shape[1], hidden).eval(), base_spec)
        recall["frozen"] = held_recall(identity)
    if held.any() and steps > 0:
        _, curve = _train(
            photos[~held],
            y[~held],
            refs,
            ref_col,
            max_steps,
            hidden=hidden,
            temperature=temperature,
            seed=seed,
            every=max(1, max_steps // 12),
            check=lambda h: held_recall(Adapter(h, base_spec))["@1"],
        )
        steps = max(curve, key=lambda sc: (sc[1], -sc[0]))[0]
    if held.any():
        fitted, _ = _train(
            photos[~held], y[~held], refs, ref_col, steps, hidden=hidden, temperature=temperature, seed=seed
        )
        held_adapter = with_projection(fitted, ~held)
        recall["adapter"] = held_recall(held_adapter)
        if measure_references:
            recall["frozen+references"] = held_recall(identity, extra=True)
            recall["adapter+references"] = held_recall(held_adapter, extra=True)
    head, _ = _train(photos, y, refs, ref_col, steps, hidden=hidden, temperature=temperature, seed=seed)
    adapter = with_projection(head, np.ones(len(photos), dtype=bool))
    report = FitReport(
        photos=len(photos),
        items_with_photos=len(set(photo_items)),
        catalog_items=len(names),
        held_out=int(held.sum()),
        steps=steps,
        seconds=round(time.perf_counter() - started, 1),
        recall=recall,
        shrinkage=shrinkage,
    )
    adapter.meta = {"fit": report.as_dict()}
    return adapter, report


__all__ = ["FitReport", "fit_adapter", "recall_at", "split_held_out"]
