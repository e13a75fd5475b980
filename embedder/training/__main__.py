"""Train the product embedder's head: ``python -m embedder.training --out models/product-embedder``.

1. Backbone features (the packaged ImageNet MobileNetV2 through ONNX Runtime) of fixed augmented views
   of every training sample are computed once into ``--cache`` (reused when present).
2. The residual head trains on them (``train.py``) and the epoch with the best validation score is kept:
   grocery recall@1 of the HELD-OUT classes' ``train/`` photos against their iconic photos (classes
   the head never sees), and clothing recall@1 of screenshot views of clothing photos kept out of
   training against their originals (the very-same-photo case must not get worse).
3. ``head.pt`` (weights + the facts the model card quotes) and ``training.json`` (per-epoch log).

About 20 minutes on two shared CPU cores, nearly all of it step 1 (``make train-embedder``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from embedder.training.features import (
    cached_features,
    cached_training_features,
    extract_features,
)
from embedder.training.head import save_head
from embedder.training.sources import Sample, grocery_samples, training_split
from embedder.training.train import TrainConfig, recall_at_1, train_head

VIEWS = {"grocery-iconic": 12, "grocery-store": 1, "clothing": 2, "people": 2}
"""Views cached per sample, by source: the one catalog photo of a grocery class gets many, so the
head sees it on many backgrounds; a store photo is already another photo of its product (itself
only); one augmented view beside the original for a clothing photo or a worn garment."""


def training_samples(
    shared: Path, *, limit: int | None = None
) -> tuple[dict[str, list[Sample]], list[Sample], list[Sample]]:
    """(training samples by source, held-out grocery samples, clothing validation samples)."""
    split = training_split(shared, limit)
    held_out = grocery_samples(split.grocery_dir, split.held_out_classes)[:limit]
    return split.train, held_out, split.clothing_validation


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[3] / "shared")
    parser.add_argument("--out", type=Path, required=True, help="folder for head.pt and training.json")
    parser.add_argument("--cache", type=Path, default=Path("var/embedder-features"))
    parser.add_argument("--limit", type=int, default=None, help="at most N samples a source (a smoke run)")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--hidden", type=int, default=TrainConfig.hidden)
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--temperature", type=float, default=TrainConfig.temperature)
    parser.add_argument("--grocery-share", type=float, default=TrainConfig.grocery_share)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from embedder import load_embedder
    from lookalike.settings import EmbedderSettings

    # One ONNX Runtime thread: on two shared cores a second one only spins (18 vs 12 views/s measured).
    backbone = load_embedder(EmbedderSettings(threads=1), export_dir=args.cache / "onnx")
    started = time.perf_counter()
    train_s, held_s, cloth_s = training_samples(args.shared, limit=args.limit)
    tag = f"limit{args.limit}" if args.limit else "full"

    def report(done: int, total: int) -> None:
        print(f"\r  {done}/{total} samples", end="", file=sys.stderr, flush=True)

    def views(sample: Sample) -> int:
        return VIEWS[sample.source]

    total = sum(len(v) for v in train_s.values())
    print(f"features: {total} training samples, backbone {backbone.spec}", file=sys.stderr)
    # Validation first, then one cache per source: an interrupted run keeps what it finished.
    held = cached_features(args.cache / f"held-{tag}.npz", lambda: extract_features(held_s, backbone, 1))
    cloth_file = args.cache / f"clothing-val-{tag}.npz"
    cloth = cached_features(cloth_file, lambda: extract_features(cloth_s, backbone, 2))
    train = cached_training_features(
        args.cache, tag, train_s, lambda part: extract_features(part, backbone, views, progress=report)
    )
    features_s = time.perf_counter() - started
    print(f"\nfeatures ready in {features_s:.0f} s: {len(train.features)} training views", file=sys.stderr)

    iconic = held.source == "grocery-iconic"
    held_ident = np.asarray([held.identities[i] for i in held.identity])
    cloth_q, cloth_g = cloth.view == 1, cloth.view == 0

    def validate(head: torch.nn.Module) -> dict[str, float]:
        return {
            "held_out_grocery_r1": recall_at_1(
                head, held.features[~iconic], held_ident[~iconic], held.features[iconic], held_ident[iconic]
            ),
            "clothing_views_r1": recall_at_1(
                head,
                cloth.features[cloth_q],
                cloth.identity[cloth_q],
                cloth.features[cloth_g],
                cloth.identity[cloth_g],
            ),
        }

    def score(row: dict[str, float]) -> float:
        # Held-out grocery decides; a clothing loss over 1 point disqualifies the epoch.
        penalty = 10.0 if row["clothing_views_r1"] < base_clothing - 0.01 else 0.0
        return row["held_out_grocery_r1"] - penalty

    cfg = TrainConfig(
        epochs=args.epochs,
        hidden=args.hidden,
        lr=args.lr,
        temperature=args.temperature,
        grocery_share=args.grocery_share,
        seed=args.seed,
    )
    from embedder.training.head import ResidualHead

    base_clothing = validate(ResidualHead(train.features.shape[1], cfg.hidden).eval())["clothing_views_r1"]
    result = train_head(train, cfg, validate, score=score, log=lambda s: print(s, file=sys.stderr))
    best = result.history[result.best_epoch]
    meta = {
        "backbone": train.backbone,
        "config": vars(cfg),
        "best_epoch": result.best_epoch,
        "validation": {k: v for k, v in best.items() if k != "epoch"},
        "validation_backbone_alone": result.history[0],
        "training_views": len(train.features),
        "training_identities": len(train.identities),
        "feature_seconds": round(features_s, 1),
        "train_seconds": round(result.seconds, 1),
        "limit": args.limit,
    }
    save_head(result.head, args.out / "head.pt", meta)
    (args.out / "training.json").write_text(
        json.dumps({**meta, "history": result.history}, indent=2) + "\n", encoding="utf-8"
    )
    print(
        f"wrote {args.out / 'head.pt'}: best epoch {result.best_epoch}, {meta['validation']}", file=sys.stderr
    )


if __name__ == "__main__":
    main()
