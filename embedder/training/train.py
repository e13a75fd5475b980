"""Train the residual head on cached backbone features with a supervised contrastive loss.

Batches are P identities x K views (``pk_batch``): for a grocery class one of the K is a view of
its iconic web photo when it has one, so every batch pulls store photos towards the catalog photo;
clothing photos and worn garments are identities of their own, their augmented views the positives.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from embedder.device import on_one_torch_thread
from embedder.training.features import FeatureSet
from embedder.training.head import ResidualHead

ANCHOR_SOURCES = frozenset({"grocery-iconic"})
"""Catalog-photo sources: a K-view group of an identity that has one starts with one of its views."""


def supcon_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, L_out) on unit vectors ``z``."""
    sim = z @ z.T / temperature
    n = z.shape[0]
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (labels[:, None] == labels[None, :]) & ~self_mask
    count = pos.sum(1)
    has = count > 0
    mean_log_prob = log_prob.masked_fill(~pos, 0.0).sum(1)[has] / count[has]
    return -mean_log_prob.mean()


@dataclass
class TrainConfig:
    epochs: int = 30
    identities_per_batch: int = 96
    views_per_identity: int = 4
    lr: float = 1e-3
    weight_decay: float = 1e-4
    temperature: float = 0.1
    hidden: int = 256
    grocery_share: float = 0.35
    """Share of each batch's identities drawn from grocery (the rest: clothing and people)."""
    seed: int = 0


@dataclass
class TrainResult:
    head: ResidualHead
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


class PKSampler:
    """Rows of ``P`` identities x ``K`` views, grocery identities at ``grocery_share`` of P."""

    def __init__(self, data: FeatureSet, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        order = np.argsort(data.identity, kind="stable")
        bounds = np.searchsorted(data.identity[order], np.arange(len(data.identities) + 1))
        self.rows = [order[bounds[i] : bounds[i + 1]] for i in range(len(data.identities))]
        anchor = np.isin(data.source, list(ANCHOR_SOURCES))
        self.anchor_rows = [r[anchor[r]] for r in self.rows]
        present = [i for i, r in enumerate(self.rows) if len(r) > 0]
        grocery = [i for i in present if data.identities[i].startswith("grocery:")]
        self.grocery = np.asarray(grocery, dtype=np.int64)
        self.other = np.asarray(sorted(set(present) - set(grocery)), dtype=np.int64)

    def batches_per_epoch(self) -> int:
        return max(1, (len(self.grocery) + len(self.other)) // self.cfg.identities_per_batch)

    def batch(self) -> np.ndarray:
        p, k = self.cfg.identities_per_batch, self.cfg.views_per_identity
        n_groc = min(len(self.grocery), round(p * self.cfg.grocery_share)) if len(self.other) else p
        n_groc = min(n_groc, len(self.grocery))
        n_other = min(len(self.other), p - n_groc)
        ids = np.concatenate(
            [
                self.rng.choice(self.grocery, n_groc, replace=False),
                self.rng.choice(self.other, n_other, replace=False),
            ]
        ).astype(np.int64)
        out: list[np.ndarray] = []
        for i in ids:
            rows, anchors = self.rows[i], self.anchor_rows[i]
            pick = self.rng.choice(rows, k, replace=len(rows) < k)
            if len(anchors):
                pick[0] = self.rng.choice(anchors)
            out.append(pick)
        return np.concatenate(out)


def recall_at_1(
    head: nn.Module, queries: np.ndarray, q_ident: np.ndarray, gallery: np.ndarray, g_ident: np.ndarray
) -> float:
    """Share of queries whose nearest gallery vector (after the head) has their identity."""
    with torch.inference_mode():
        q = head(torch.from_numpy(queries)).numpy()
        g = head(torch.from_numpy(gallery)).numpy()
    best = (q @ g.T).argmax(1)
    return float((g_ident[best] == q_ident).mean()) if len(q) else 0.0


Validator = Callable[[nn.Module], dict[str, float]]


@on_one_torch_thread
def train_head(
    data: FeatureSet,
    cfg: TrainConfig,
    validate: Validator | None = None,
    *,
    score: Callable[[dict[str, float]], float] | None = None,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """AdamW with a one-cycle schedule; keeps the epoch whose ``score(validate(head))`` is best.
    Runs on one torch thread (``embedder.device.one_torch_thread``)."""
    torch.manual_seed(cfg.seed)
    head = ResidualHead(data.features.shape[1], cfg.hidden)
    sampler = PKSampler(data, cfg)
    steps = sampler.batches_per_epoch()
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * steps, pct_start=0.1)
    feats = torch.from_numpy(data.features)
    labels = torch.from_numpy(data.identity.astype(np.int64))
    result = TrainResult(head)
    best_score, best_state = -np.inf, None
    if validate is not None:
        base = validate(head.eval())
        result.history.append({"epoch": 0, **base})
        log(f"epoch 0 (the backbone alone): {base}")
    start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        head.train()
        total = 0.0
        for _ in range(steps):
            rows = torch.from_numpy(sampler.batch())
            loss = supcon_loss(head(feats[rows]), labels[rows], cfg.temperature)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        row: dict[str, float] = {"epoch": epoch, "loss": total / steps}
        if validate is not None:
            row.update(validate(head.eval()))
        result.history.append(row)
        log(f"epoch {epoch}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k != "epoch"))
        current = score(row) if score is not None else -row["loss"]
        if current > best_score:
            best_score, result.best_epoch = current, epoch
            best_state = {k: v.clone() for k, v in head.state_dict().items()}
    if best_state is not None:
        head.load_state_dict(best_state)
    result.seconds = time.perf_counter() - start
    head.eval()
    return result


__all__ = ["PKSampler", "TrainConfig", "TrainResult", "recall_at_1", "supcon_loss", "train_head"]
