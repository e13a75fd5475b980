"""Fine-tune MobileNetV2's last blocks for product retrieval on cached prefix maps.

``python -m embedder.training.tune --out models/product-tuned`` (``make train-embedder``):

1. The frozen prefix's maps (``maps.py``) of fixed augmented views of every training sample
   (``sources.py``, ``views.py``) are computed once into ``--cache`` (reused when present).
2. The tail (``backbone.py``: by default the last four inverted-residual blocks and the 1 x 1
   convolution to 1,280 channels; ``--from-stage 7``, as shipped, every stage from 7, the earlier
   ones at ``--early-lr-scale`` x the learning rate) trains with a normalised softmax (cosine
   logits against one learned proxy per product identity, temperature 0.05; Zhai & Wu 2019),
   batch-norm statistics frozen, on one torch thread in channels-last layout (the fastest
   measured on two shared cores). Each epoch
   is checkpointed; the epoch with the best validation score is kept: recall@1 of the ``val/``
   store photos of the TRAINING classes against their iconic photos, an epoch that loses over
   1 point on clothing views (screenshot views of 200 garments kept out of training against their
   originals) disqualified. The held-out classes' ``train/`` photos are logged, never used to choose.
3. Optionally (``--whiten SHRINKAGE``; default 0: none, as shipped) a learned whitening
   (``whitening.py``) fitted in closed form on the kept tail's vectors of the training views (the
   grocery training classes' photos around their product's mean, the clothing and worn-garment
   views against their photos) and stored with the stages as the model's retrieval head
   (``backbone.RetrievalHead``). Measured and not adopted (``docs/LOG.md``, 2026-12-06): on the
   held-out grocery classes it changed recall@1 by -0.003.
4. ``tail.pt`` (fp16 weights of the tuned stages, and of the head when there is one, + the facts
   the model card quotes) and ``training.json`` (per-epoch log). ``--from-tail FILE`` skips step 2
   and fits the head on the stages of an earlier run's ``tail.pt``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from embedder.training.backbone import (
    FIRST_TUNED,
    RetrievalHead,
    Tail,
    save_tail,
    split_mobilenet_v2,
)
from embedder.training.features import (
    FeatureSet,
    cached_features,
    cached_training_features,
    extract_features,
)
from embedder.training.sources import Sample, grocery_samples, grocery_validation_samples, training_split
from embedder.training.whitening import fit_whitening, matching_differences

VIEWS = {"grocery-iconic": 24, "grocery-store": 3, "clothing": 2, "people": 2}
"""Cached views per sample, by source (view 0 is the photo itself): the one catalog photo of a grocery
class gets many, a store photo two screenshot views beside itself, a garment one."""


def norm_softmax_loss(
    z: torch.Tensor, labels: torch.Tensor, proxies: torch.Tensor, temperature: float = 0.05
) -> torch.Tensor:
    """Cross-entropy of cosine similarities to one proxy per identity, divided by ``temperature``."""
    logits = nn.functional.normalize(z, dim=1) @ nn.functional.normalize(proxies, dim=1).T
    return nn.functional.cross_entropy(logits / temperature, labels)


@dataclass
class TuneConfig:
    epochs: int = 8
    batch_size: int = 64
    lr: float = 3e-4
    proxy_lr: float = 3e-3
    weight_decay: float = 1e-4
    temperature: float = 0.05
    seed: int = 0
    early_lr_scale: float = 1.0
    """Learning-rate factor for the tuned stages before ``FIRST_TUNED`` (``--from-stage`` below 14)."""
    stop_after: int | None = None
    """Run only the first N epochs of the ``epochs``-long schedule (a shorter run, same schedule)."""


@dataclass
class TuneResult:
    tail: Tail
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


def maps_tensor(data: FeatureSet, rows: np.ndarray, shape: tuple[int, int, int]) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(data.features[rows], dtype=np.float32))
    return x.view(len(rows), *shape).contiguous(memory_format=torch.channels_last)


@torch.inference_mode()
def embed_maps(
    tail: Tail,
    data: FeatureSet,
    shape: tuple[int, int, int],
    batch: int = 128,
    head: RetrievalHead | None = None,
) -> np.ndarray:
    """Unit vectors of every cached map through ``tail`` (average-pooled, or through ``head``)."""
    tail.eval()
    out = []
    for s in range(0, len(data.features), batch):
        x = maps_tensor(data, np.arange(s, min(s + batch, len(data.features))), shape)
        out.append(nn.functional.normalize(tail(x) if head is None else head(tail.stages(x))))
    return torch.cat(out).numpy() if out else np.zeros((0, 1), np.float32)


def whitening_head(
    tail: Tail, train: FeatureSet, shape: tuple[int, int, int], shrinkage: float
) -> RetrievalHead:
    """The learned whitening of ``tail``'s vectors (``whitening.py``): grocery photos (view 0 of the
    training classes' store and iconic photos) around their product's mean; each clothing photo's and
    worn garment's first screenshot view against the photo."""
    grocery = (train.view == 0) & np.char.startswith(train.source.astype(str), "grocery")
    g = train.select(grocery)
    gv = embed_maps(tail, g, shape)
    diffs = [matching_differences(gv, g.identity)]
    for source in ("clothing", "people"):
        pair = train.select((train.source == source) & (train.view <= 1))
        v = embed_maps(tail, pair, shape)
        first = {(s, w): i for i, (s, w) in enumerate(zip(pair.sample, pair.view, strict=True))}
        rows = [(first[(s, 1)], first[(s, 0)]) for s in np.unique(pair.sample) if (s, 1) in first]
        if rows:
            a, b = np.asarray(rows).T
            diffs.append((v[a] - v[b]) / math.sqrt(2))
    mean, proj = fit_whitening(gv, np.concatenate(diffs), shrinkage)
    return RetrievalHead(1.0, torch.from_numpy(mean), torch.from_numpy(proj))


def recall_at_1(q: np.ndarray, q_ident: np.ndarray, g: np.ndarray, g_ident: np.ndarray) -> float:
    best = (q @ g.T).argmax(1)
    return float((g_ident[best] == q_ident).mean()) if len(q) else 0.0


Validator = Callable[[Tail], dict[str, float]]


def tune_tail(
    tail: Tail,
    data: FeatureSet,
    shape: tuple[int, int, int],
    cfg: TuneConfig,
    validate: Validator | None = None,
    *,
    score: Callable[[dict[str, float]], float] | None = None,
    checkpoint: Callable[[Tail, int], None] | None = None,
    log: Callable[[str], None] = print,
) -> TuneResult:
    """Train ``tail`` in place; keeps the epoch whose ``score(validate(tail))`` is best (the last
    epoch without a validator). Batch-norm layers stay in eval mode (statistics frozen)."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tail.to(memory_format=torch.channels_last)
        labels_all = torch.from_numpy(data.identity.astype(np.int64))
        start_vectors = embed_maps(tail, data, shape)
        proxies = torch.zeros(len(data.identities), start_vectors.shape[1])
        proxies.index_add_(0, labels_all, torch.from_numpy(start_vectors))
        proxies = nn.Parameter(nn.functional.normalize(proxies, dim=1))
        early, late = _stage_params(tail)
        opt = torch.optim.AdamW(
            [
                {"params": late, "lr": cfg.lr},
                {"params": early, "lr": cfg.lr * cfg.early_lr_scale},
                {"params": [proxies], "lr": cfg.proxy_lr, "weight_decay": 0.0},
            ],
            weight_decay=cfg.weight_decay,
        )
        steps = max(1, len(data.features) // cfg.batch_size)
        total_steps = cfg.epochs * steps
        warmup = max(1, steps // 4)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total_steps - warmup)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        result = TuneResult(tail)
        best_score, best_state = -math.inf, None
        if validate is not None:
            base = validate(tail)
            result.history.append({"epoch": 0, **base})
            log(f"epoch 0 (ImageNet weights): {base}")
        started = time.perf_counter()
        for epoch in range(1, min(cfg.epochs, cfg.stop_after or cfg.epochs) + 1):
            tail.eval()  # frozen batch-norm statistics; gradients still flow
            order = rng.permutation(len(data.features))
            total, t0 = 0.0, time.perf_counter()
            for step in range(steps):
                rows = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
                x = maps_tensor(data, rows, shape)
                flip = torch.from_numpy(rng.random(len(rows)) < 0.5)
                x = torch.where(flip[:, None, None, None], x.flip(3), x)
                loss = norm_softmax_loss(tail(x), labels_all[rows], proxies, cfg.temperature)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach())
                if step % 20 == 0:
                    log(
                        f"  epoch {epoch} step {step}/{steps} loss {total / (step + 1):.4f} "
                        f"({(time.perf_counter() - t0) / (step + 1):.2f} s/step)"
                    )
            row: dict[str, float] = {"epoch": epoch, "loss": total / steps}
            if validate is not None:
                row.update(validate(tail))
            result.history.append(row)
            log(f"epoch {epoch}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k != "epoch"))
            current = score(row) if score is not None else float(epoch)
            if current > best_score:
                best_score, result.best_epoch = current, epoch
                best_state = {k: v.clone() for k, v in tail.state_dict().items()}
            if checkpoint is not None:
                checkpoint(tail, epoch)
        if best_state is not None:
            tail.load_state_dict(best_state)
        result.seconds = time.perf_counter() - started
    finally:
        torch.set_num_threads(before)
        tail.to(memory_format=torch.contiguous_format)
    tail.eval()
    return result


def _stage_params(tail: Tail) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(parameters of the stages before ``FIRST_TUNED``, those of the later stages)."""
    early: list[nn.Parameter] = []
    late: list[nn.Parameter] = []
    for i, stage in enumerate(tail.stages):
        group = early if tail.first_tuned + i < FIRST_TUNED else late
        group.extend(p for p in stage.parameters() if p.requires_grad)
    return early, late


def training_samples(
    shared: Path, limit: int | None = None
) -> tuple[dict[str, list[Sample]], list[Sample], list[Sample], list[Sample]]:
    """(training samples by source, training classes' val/ samples, held-out classes' train/ samples,
    clothing validation samples)."""
    split = training_split(shared, limit)
    return (
        split.train,
        grocery_validation_samples(split.grocery_dir, split.train_classes)[:limit],
        grocery_samples(split.grocery_dir, split.held_out_classes)[:limit],
        split.clothing_validation,
    )


def catalog_recall(vectors: np.ndarray, data: FeatureSet) -> float:
    """Recall@1 of a grocery set's store photos against its iconic photos."""
    iconic = data.source == "grocery-iconic"
    ident = data.identity
    return recall_at_1(vectors[~iconic], ident[~iconic], vectors[iconic], ident[iconic])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[3] / "shared")
    parser.add_argument("--out", type=Path, required=True, help="folder for tail.pt and training.json")
    parser.add_argument("--cache", type=Path, default=Path("var/embedder-maps"))
    parser.add_argument("--limit", type=int, default=None, help="at most N samples a source (a smoke run)")
    parser.add_argument("--epochs", type=int, default=TuneConfig.epochs)
    parser.add_argument("--lr", type=float, default=TuneConfig.lr)
    parser.add_argument(
        "--from-stage",
        type=int,
        default=FIRST_TUNED,
        help=f"first tuned stage of MobileNetV2's 19 (default {FIRST_TUNED}: the 7 x 7 blocks; 11: "
        "from the 14 x 14 blocks of 96 channels; the maps before it are cached per stage)",
    )
    parser.add_argument(
        "--early-lr-scale",
        type=float,
        default=TuneConfig.early_lr_scale,
        help=f"learning-rate factor for the stages before {FIRST_TUNED} when --from-stage is lower",
    )
    parser.add_argument("--temperature", type=float, default=TuneConfig.temperature)
    parser.add_argument("--stop-after", type=int, default=None, help="stop after N epochs of the schedule")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--whiten", type=float, default=0.0, help="learned whitening's shrinkage (0: none, as shipped)"
    )
    parser.add_argument(
        "--from-tail", type=Path, default=None, help="fit the head on this tail.pt's stages, no training"
    )
    args = parser.parse_args(argv)

    from embedder.training.maps import PrefixMaps

    if not 1 <= args.from_stage <= FIRST_TUNED:
        parser.error(f"--from-stage must be 1 to {FIRST_TUNED}")
    prefix, tail = split_mobilenet_v2(args.from_stage)
    maps = PrefixMaps(prefix)
    started = time.perf_counter()
    train_s, val_s, held_s, cloth_s = training_samples(args.shared, limit=args.limit)
    tag = f"limit{args.limit}" if args.limit else "full"
    if args.from_stage != FIRST_TUNED:  # other maps: other cache files (the default keeps its names)
        tag += f"-stage{args.from_stage}"

    def report(done: int, total: int) -> None:
        print(f"\r  {done}/{total} samples", end="", file=sys.stderr, flush=True)

    def views(sample: Sample) -> int:
        return VIEWS[sample.source]

    print(f"maps: {sum(len(v) for v in train_s.values())} training samples", file=sys.stderr)
    val = cached_features(args.cache / f"val-{tag}.npz", lambda: extract_features(val_s, maps, 1))
    held = cached_features(args.cache / f"held-{tag}.npz", lambda: extract_features(held_s, maps, 1))
    cloth_file = args.cache / f"clothing-val-{tag}.npz"
    cloth = cached_features(cloth_file, lambda: extract_features(cloth_s, maps, 2))
    train = cached_training_features(
        args.cache, tag, train_s, lambda part: extract_features(part, maps, views, progress=report)
    )
    maps_s = time.perf_counter() - started
    print(f"\nmaps ready in {maps_s:.0f} s: {len(train.features)} training views", file=sys.stderr)

    shape = maps.map_shape
    cloth_q, cloth_g = cloth.view == 1, cloth.view == 0

    def validate(t: Tail, head: RetrievalHead | None = None) -> dict[str, float]:
        c = embed_maps(t, cloth, shape, head=head)
        return {
            "val_grocery_r1": catalog_recall(embed_maps(t, val, shape, head=head), val),
            "held_out_train_r1": catalog_recall(embed_maps(t, held, shape, head=head), held),
            "clothing_views_r1": recall_at_1(
                c[cloth_q], cloth.identity[cloth_q], c[cloth_g], cloth.identity[cloth_g]
            ),
        }

    base_clothing = validate(tail)["clothing_views_r1"]

    def score(row: dict[str, float]) -> float:
        # The training classes' val/ photos decide; a clothing loss over 1 point disqualifies the epoch.
        penalty = 10.0 if row["clothing_views_r1"] < base_clothing - 0.01 else 0.0
        return row["val_grocery_r1"] - penalty

    cfg = TuneConfig(
        epochs=args.epochs,
        lr=args.lr,
        temperature=args.temperature,
        seed=args.seed,
        early_lr_scale=args.early_lr_scale,
        stop_after=args.stop_after,
    )

    def checkpoint(t: Tail, epoch: int) -> None:
        save_tail(t, args.out / "checkpoints" / f"epoch-{epoch}.pt", {"epoch": epoch})

    if args.from_tail is not None:
        blob = torch.load(str(args.from_tail), map_location="cpu", weights_only=True)
        missing = tail.stages.load_state_dict(
            {k: v.float() for k, v in _stage_state(blob["state"], tail.first_tuned).items()}
        )
        meta = dict(blob["meta"])
        log_file = args.from_tail.parent / "training.json"
        history = json.loads(log_file.read_text())["history"] if log_file.is_file() else []
        print(f"stages from {args.from_tail} ({missing})", file=sys.stderr)
    else:
        result = tune_tail(
            tail,
            train,
            shape,
            cfg,
            validate,
            score=score,
            checkpoint=checkpoint,
            log=lambda s: print(s, file=sys.stderr, flush=True),
        )
        best = result.history[result.best_epoch]
        history = result.history
        meta = {
            "backbone": "torchvision mobilenet_v2-b0353104.pth (ImageNet), "
            f"stages {args.from_stage}-18 tuned",
            "config": vars(cfg),
            "views": VIEWS,
            "best_epoch": result.best_epoch,
            "validation": {k: v for k, v in best.items() if k != "epoch"},
            "validation_imagenet": result.history[0],
            "training_views": len(train.features),
            "training_identities": len(train.identities),
            "maps_seconds": round(maps_s, 1),
            "train_seconds": round(result.seconds, 1),
            "limit": args.limit,
        }
    head = None
    if args.whiten > 0:
        t0 = time.perf_counter()
        head = whitening_head(tail, train, shape, args.whiten)
        meta["head"] = {
            "pooling": "average (GeM p=1)",
            "whitening_shrinkage": args.whiten,
            "validation": validate(tail, head),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(f"whitening: {meta['head']}", file=sys.stderr)
    save_tail(tail, args.out / "tail.pt", meta, head)
    (args.out / "training.json").write_text(
        json.dumps({**meta, "history": history}, indent=2) + "\n", encoding="utf-8"
    )
    print(
        f"wrote {args.out / 'tail.pt'}: best epoch {meta['best_epoch']}, {meta['validation']}",
        file=sys.stderr,
    )


def _stage_state(state: dict[str, torch.Tensor], first_tuned: int) -> dict[str, torch.Tensor]:
    """A stored tail's weights (``features.14.conv...``) under ``Tail.stages``' names (``0.conv...``)."""
    out = {}
    for key, tensor in state.items():
        _features, index, rest = key.split(".", 2)
        out[f"{int(index) - first_tuned}.{rest}"] = tensor
    return out


if __name__ == "__main__":
    main()
