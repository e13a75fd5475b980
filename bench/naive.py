"""The honest baseline: the same models called the way a notebook would call them.

Full-size PIL decode, the detector on each image, each crop embedded alone in eager torch,
FAISS searched per crop, and one SQL query per returned item. This is what a competent
user writes in an afternoon; the service is measured against it.
"""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.models import Catalog, Item
from detector import load_detector
from embedder import load_embedder
from index import threads
from index.versions import IndexStore
from lookalike.execution import usable_cores
from lookalike.settings import DetectorSettings, EmbedderSettings, Settings
from lookalike.types import DecodedImage


def notebook_detector(settings: DetectorSettings, weights: str = "pt") -> DetectorSettings:
    """The detector through ultralytics' ``predict``, as a notebook calls it.

    ``weights="pt"`` loads the trained checkpoint (``best.pt``, eager torch), which is what a
    user holding our detector would load; ``"onnx"`` hands ultralytics the ONNX export instead.
    """
    if settings.spec == "garment-yolo" and weights == "pt":
        from lookalike.packaged import garment_yolo_onnx, garment_yolo_side

        checkpoint = garment_yolo_onnx().with_suffix(".pt")
        confidence = 0.15 if settings.confidence is None else settings.confidence
        return settings.model_copy(
            update={
                "spec": f"yolo:{checkpoint}",
                "imgsz": garment_yolo_side(),
                "confidence": confidence,
                "runtime": "ultralytics",
            }
        )
    return settings.model_copy(update={"runtime": "ultralytics"})


class NaivePipeline:
    def __init__(self, settings: Settings, catalog: str, detector_weights: str = "pt") -> None:
        self.detector = load_detector(notebook_detector(settings.detector, detector_weights))
        emb = settings.embedder.model_dump()
        emb.update(runtime="torch", batch_size=1)
        self.embedder = load_embedder(EmbedderSettings(**emb))
        _, self.index = IndexStore(settings.index_dir).load(catalog)
        from catalog.store import make_engine

        self.engine = make_engine(settings.db_url)
        self.catalog = catalog

    def search(self, data: bytes, k: int = 10) -> list[list[dict[str, Any]]]:
        img = Image.open(io.BytesIO(data)).convert("RGB")
        decoded = DecodedImage(img, "")
        regions = self.detector.detect([decoded])[0] or []
        if not regions:
            from lookalike.types import Box, Region

            regions = [Region(Box.full(img.width, img.height))]
        out = []
        with Session(self.engine) as session:
            cid = session.scalar(select(Catalog.id).where(Catalog.name == self.catalog))
            for region in regions[:5]:
                vec = self.embedder.embed_images([decoded.crop(region.box)])
                # FAISS called directly, at its default of every core (the service runs a
                # search of few queries on one core unless it is alone).
                threads.set_team(usable_cores())
                scores, found = self.index.index.search(np.asarray(vec, dtype=np.float32), k)
                rows = []
                for score, row in zip(scores[0], found[0], strict=True):
                    item_id = self.index.item_of(int(self.index.vector_ids[row]))
                    item = session.scalar(select(Item).where(Item.catalog_id == cid, Item.item_id == item_id))
                    rows.append({"item_id": item.item_id if item else None, "score": float(score)})
                out.append(rows)
        return out


def time_naive(pipeline: NaivePipeline, payloads: list[bytes]) -> list[float]:
    """Latency in ms of each payload, one after another (single stream)."""
    pipeline.search(payloads[0])  # warm-up
    times = []
    for data in payloads:
        start = time.perf_counter()
        pipeline.search(data)
        times.append((time.perf_counter() - start) * 1000.0)
    return times
