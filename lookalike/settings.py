"""All configuration in one typed object.

Sources, highest first: explicit keyword arguments, ``LOOKALIKE_*`` environment variables
(nested with ``__``, e.g. ``LOOKALIKE_API__MAX_UPLOAD_BYTES``), then a TOML file passed as
``--config`` (``load_settings(path)``) or else named by ``LOOKALIKE_CONFIG``. Loading reads the
environment and never writes it; nothing else in the code reads ``os.environ``. A ``Settings``
object is plain data: ``lookalike serve --workers N`` hands the same object to every worker
process (pickled with uvicorn's app factory, see ``api.server``), not a file name to re-read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class DetectorSettings(BaseModel):
    """Which detector finds product regions, and how its output is filtered."""

    spec: str = Field(
        default="garment-yolo",
        description=(
            "'garment-yolo' (our YOLOv8n trained for products in screenshots, models/garment-yolo), "
            "'coco' (packaged COCO SSD MobileNetV2: furniture, home, electronics, bags; no people), "
            "'blocks' (photo blocks in screenshots, OpenCV), 'none' (whole image), "
            "'yolo:<path or hub name>' (ultralytics .pt/.onnx), 'nudenet' (packaged YOLOv8n), or "
            "'triton+grpc://host:8001/detector' (`lookalike export triton`, docs/DEPLOY.md)."
        ),
    )
    confidence: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description=(
            "None: the model's tuned value (garment-yolo 0.15, 0.13 with flip_tta; coco 0.4, else 0.25)."
        ),
    )
    flip_tta: bool | None = Field(
        default=None,
        description=(
            "Horizontal-flip test-time augmentation (YOLO detectors in ONNX Runtime or Triton): run "
            "the input and its mirror, fuse their boxes; twice the detector runs. None: the model's "
            "tuned choice (off for every detector today, docs/DETECTOR.md)."
        ),
    )
    agnostic_nms: bool = Field(
        default=True,
        description="One box per object whatever its class: a garment is often scored as two classes.",
    )
    iou: float = Field(default=0.5, ge=0.0, le=1.0)
    imgsz: int = Field(default=640, ge=32)
    runtime: Literal["auto", "ultralytics", "onnx"] = Field(
        default="auto",
        description=(
            "'auto': .onnx weights run directly in ONNX Runtime (own letterbox and NMS), "
            ".pt weights and hub names through ultralytics; 'ultralytics' forces its predictor."
        ),
    )
    threads: int = Field(default=0, ge=0, description="ONNX Runtime CPU threads; 0 = all cores.")
    engine: Literal["auto", "onnxruntime", "openvino"] = Field(
        default="auto",
        description=(
            "Engine of the ONNX model on the CPU: 'auto' (OpenVINO where a pinned precision needs it, "
            "else ONNX Runtime), 'onnxruntime' or 'openvino' (docs/PRECISION.md)."
        ),
    )
    precision: Literal["auto", "fp32", "bf16", "int8"] = Field(
        default="auto",
        description=(
            "'auto': fp32 (int8 and bf16 did not keep grocery recall within 0.005, "
            "docs/PRECISION.md). 'bf16' (CPUs with AVX512_BF16 or AMX) and 'int8' (after "
            "`lookalike quantize`) run in OpenVINO."
        ),
    )
    rect_inputs: bool = Field(
        default=True,
        description=(
            "Run each image at its smallest stride-multiple rectangle (a phone screenshot at 320x160, "
            "not 320x320) through static ONNX exports made from the .pt beside a square .onnx."
        ),
    )
    rect_margin_strides: int = Field(
        default=1,
        ge=0,
        description=(
            "Extra strides of grey around a rectangular input: 0 is ultralytics' minimal rectangle, "
            "1 keeps box recall level with the square input (docs/EVALUATION.md)."
        ),
    )
    max_regions: int = Field(
        default=32,
        ge=1,
        le=100,
        description=(
            "Safety cap on regions searched per image: every confident region is searched, best "
            "score (then largest) first, up to this many."
        ),
    )
    min_box_fraction: float = Field(
        default=0.002,
        ge=0.0,
        le=1.0,
        description=(
            "Drop boxes smaller than this share of the image. 0.002 keeps a shoe in a feed post "
            "(0.01 lost 0.07 region recall@1 on people-posts, docs/EVALUATION.md)."
        ),
    )
    pair_categories: list[str] = Field(
        default_factory=lambda: ["Shoes", "footwear"],
        description=(
            "Region categories that come in pairs (garment-yolo's footwear, named Shoes by its map): "
            "a box of one holding two smaller boxes of it is the pair and is dropped, each shoe is "
            "searched instead. [] keeps pair boxes (docs/DETECTOR.md)."
        ),
    )
    include_whole_image: bool = Field(
        default=False, description="Also search the whole image as one more region."
    )
    category_map: dict[str, str] | None = Field(
        default=None,
        description=(
            "Detector class name -> catalog category. None: the detector's known map (garment-yolo: "
            "dress -> Dress, footwear -> Shoes, headwear -> Hat; docs/DETECTOR.md); {}: class names "
            "as they are."
        ),
    )


class EmbedderSettings(BaseModel):
    """Which model turns crops (and text) into vectors."""

    spec: str = Field(
        default="product_tuned",
        description=(
            "'product_tuned[@<tail.pt>]' (the default: MobileNetV2 with its stages 7-18 fine-tuned by "
            "the project for 'same product, another photo', models/product-tuned; v1 is "
            "'product_tuned@models/product-tuned/v1/tail.pt'), 'torchvision:mobilenet_v2' (ImageNet "
            "MobileNetV2, the default before 2026-12-07; catalogs ingested with it need it or a new "
            "ingest), 'torchvision:<arch>[@<weights file>]', 'open_clip:<model>[@<pretrained tag or "
            "file>]', 'efficientnet_lite0', 'efficientnet_lite2' (260 px at the standard size), "
            "'concat:<spec>,<spec>' (the parts' vectors side by side, for `lookalike adapt`), "
            "'product[@<head.pt>]' (MobileNetV2 + the project's trained head, models/product-embedder), "
            "'onnx:<file>', or 'triton+grpc://host:8001/embedder' (served by Triton; its vector space "
            "names the served model and version, docs/DEPLOY.md). Part of the vectors' name: a server "
            "refuses an index built with another one (docs/EMBEDDER.md)."
        ),
    )
    device: str = Field(default="auto", description="'auto', 'cpu', 'cuda' or 'cuda:N'.")
    runtime: Literal["auto", "torch", "onnx"] = Field(
        default="auto",
        description="'auto': ONNX Runtime on the CPU (exported once, cached by model hash), torch on CUDA.",
    )
    batch_size: int = Field(default=32, ge=1, le=1024)
    image_size: int = Field(
        default=224,
        ge=32,
        description=(
            "Crop side in pixels. Part of the vectors' name: a catalog embedded at another size is "
            "ingested again, not mixed in. Smaller is faster but loses recall (docs/EVALUATION.md)."
        ),
    )
    threads: int = Field(default=0, ge=0, description="CPU threads; 0 = all cores.")
    engine: Literal["auto", "onnxruntime", "openvino"] = Field(
        default="auto",
        description=(
            "Engine of the ONNX model on the CPU: 'auto' (OpenVINO where a pinned precision needs it, "
            "else ONNX Runtime), 'onnxruntime' or 'openvino' (docs/PRECISION.md)."
        ),
    )
    precision: Literal["auto", "fp32", "bf16", "int8"] = Field(
        default="auto",
        description=(
            "'auto': fp32; never int8 (another vector space: pin it, then ingest again), nor bf16 "
            "(with catalog and queries in bf16 grocery recall@10 fell 0.008; bf16 queries on an fp32 "
            "catalog kept it: pin it on CPUs with AVX512_BF16 or AMX). 'bf16' and 'int8' run in "
            "OpenVINO; int8 needs `lookalike quantize` first."
        ),
    )
    flip_average: bool = Field(
        default=False,
        description=(
            "Average each crop's vector with its mirror image's (twice the embedding work). Part of "
            "the vectors' name ('+flip'): a catalog embedded without it is ingested again."
        ),
    )
    colour_histogram: bool = Field(
        default=False,
        description=(
            "Append the crop's colour histograms (HSV, whole and centre) to its vector, for "
            "`lookalike adapt` to weigh: colour tells apart what ImageNet features merge (a lime and "
            "a Granny Smith). Part of the vectors' name ('+colour'): a catalog embedded without it "
            "is ingested again (docs/EMBEDDER.md)."
        ),
    )
    adapter: Path | None = Field(
        default=None,
        description=(
            "A domain-fit adapter file written by `lookalike adapt` (applied after the embedder, "
            "flip averaging and colour histograms). Part of the vectors' name ('+adapter-<hash>'): an "
            "index built with another adapter, or none, is refused."
        ),
    )


class IndexSettings(BaseModel):
    """How FAISS indexes are built and where they live."""

    factory: str = Field(
        default="auto",
        description=(
            "'auto' (chosen by catalog size and memory_budget_mb, see docs/INDEX.md) or a FAISS factory "
            "string, e.g. 'HNSW32,SQ8' or 'PCA128,IVF4096,SQ8,Rerank10' (uncentered PCA prefix and "
            "exact re-rank suffix are ours); inner product metric."
        ),
    )
    use_gpu: Literal["auto", "never"] = "auto"
    memory_budget_mb: float = Field(default=1024, gt=0, description="RAM the FAISS index may take.")
    pca_dim: int = Field(
        default=0, ge=0, description="'auto' factory: PCA to this many dimensions; 0 = chosen."
    )
    nprobe: int = Field(default=0, ge=0, description="IVF lists searched; 0 = the version's planned value.")
    ef_search: int = Field(
        default=0, ge=0, description="HNSW search breadth; 0 = the version's planned value."
    )
    rerank: int | None = Field(
        default=None, ge=0, description="Re-rank k*rerank candidates on exact vectors; None = planned."
    )
    exact_filter_rows: int = Field(
        default=2_000, ge=0, description="Filters allowing at most this many rows are searched exactly."
    )
    exact_filter_fraction: float = Field(
        default=0.0, ge=0, le=1, description="... or at most this share of the index."
    )
    check_interval_s: float = Field(
        default=0.5, ge=0, description="How often a server looks for a new version or delta segment."
    )
    delta_min_base: int = Field(
        default=50_000,
        ge=0,
        description="Ingest appends a delta segment, not a rebuild, once the base has this many vectors.",
    )
    delta_max_fraction: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="... as long as the pending delta rows stay under this share of the base (else rebuild).",
    )


class ResidencySettings(BaseModel):
    """Which catalogs' indexes stay in memory (docs/RESIDENCY.md): loaded on first search, least
    recently used evicted first once the resident indexes pass the budget."""

    budget_bytes: ByteSize = Field(
        default=ByteSize(4 * 1024**3),
        ge=0,
        description=(
            "Memory the resident indexes may take (FAISS index, payload, exact vectors, delta rows), "
            "e.g. '4GiB' or 4294967296. Pinned and preloaded catalogs count but are never evicted."
        ),
    )
    pinned: list[str] = Field(
        default_factory=list,
        description="Catalogs never evicted once loaded (api.preload_catalogs are pinned too).",
    )
    load_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description=(
            "How long a search waits for its catalog's index to load; then 503 with Retry-After, "
            "while the load goes on."
        ),
    )
    loaders: int = Field(
        default=2, ge=1, description="Index loads at once (each catalog loads once however many ask)."
    )
    max_models: int = Field(
        default=4,
        ge=1,
        description=(
            "Detectors and embedders named by catalog_models kept loaded at once (the server's own "
            "are always loaded); the least recently used leaves first."
        ),
    )


class CatalogModelChoice(BaseModel):
    """The models one catalog searches (and is ingested) with; None: the server's."""

    detector: str | None = Field(default=None, description="A detector spec (see detector.spec).")
    embedder: str | None = Field(
        default=None,
        description="An embedder spec (see embedder.spec); the catalog must be ingested with it.",
    )


class ApiSettings(BaseModel):
    """Limits and defaults of the HTTP service."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(
        default=1,
        ge=0,
        description=(
            "Server processes; 0 = one per CPU core. One process runs a search per core at once "
            "(ONNX Runtime, FAISS and the JPEG decoder release the GIL): on 2 cores two processes "
            "served no more (31.5 against 30.1 req/s at 16 clients, noise) with a longer tail and "
            "twice the memory (docs/BENCHMARKS.md). More processes pay off where Python work dominates."
        ),
    )
    default_catalog: str = "demo"
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    max_pixels: int = Field(default=40_000_000, ge=1)
    max_pixels_full_decode: int = Field(
        default=16_000_000,
        ge=1,
        description=(
            "The pixel limit of formats decoded at full size (PNG, WebP, GIF, TIFF, BMP): their decode "
            "cost grows with every pixel, while a JPEG decodes at a reduced DCT scale and keeps "
            "max_pixels. 16 Mpx: a PNG of that size cost 7-8x the CPU of a phone screenshot's search, "
            "a 24 Mpx one 9x, a 40 Mpx one 12x (docs/RELIABILITY.md); a 1080x14800 capture fits."
        ),
    )
    max_aspect_ratio: float = Field(
        default=50.0,
        ge=1.0,
        description=(
            "Refuse uploads longer than this many times their width (or the reverse) with 422, before "
            "decoding: a 440-byte 60000x2 PNG is far under max_pixels. A scrolling phone capture is ~20."
        ),
    )
    search_budget_s: float = Field(
        default=10.0,
        gt=0,
        description=(
            "Compute time one search may take (decode, detector, embedder); a search over it stops at the "
            "next stage with 503 + Retry-After instead of holding a core."
        ),
    )
    decode_long_side: int = Field(
        default=1024,
        ge=0,
        description=(
            "Decode big uploads at a reduced size keeping at least this long side: JPEGs at a reduced DCT "
            "scale, other formats (PNG, WebP, ...) box-averaged right after decoding; 0 = full size."
        ),
    )
    allow_url_fetch: bool = True
    fetch_allow_private_networks: bool = Field(
        default=False, description="Let image URLs reach loopback/private addresses (tests, intranets)."
    )
    fetch_allowed_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs image URLs may reach although private (an intranet CDN), e.g. ['10.20.0.0/16'].",
    )
    fetch_timeout_s: float = Field(default=10.0, gt=0)
    preload_catalogs: list[str] = Field(
        default_factory=list,
        description="Catalogs loaded at start-up (readiness waits for them) and pinned: never evicted.",
    )
    search_threads: int = Field(
        default=0,
        ge=0,
        description="Searches computing at once (the rest queue); 0 = auto: cores + 1 on CPU, 32 batched.",
    )
    max_in_flight: int = Field(
        default=64,
        ge=1,
        description="Searches admitted at once per process (running or waiting); beyond: 429, Retry-After.",
    )


class SearchSettings(BaseModel):
    """How a search scores what it finds: each region's matches, optionally with the whole image
    around the region (docs/EVALUATION.md, "Cheap retrieval wins")."""

    whole_image_fusion: float = Field(
        default=0.0,
        ge=0.0,
        le=10.0,
        description=(
            "Weight w of the whole image in a region's scores: each candidate item of a detected region "
            "scores (region + w x whole-image similarity) / (1 + w). 0: off (no extra work); > 0 embeds "
            "the whole image once beside the regions and searches it once, whole_image_depth deep."
        ),
    )
    whole_image_depth: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description=(
            "Neighbours of the whole image fetched for fusion; a candidate item outside them scores the "
            "last one's similarity (a bound: it is no closer to the whole image)."
        ),
    )
    query_expansion: int = Field(
        default=0,
        ge=0,
        le=20,
        description=(
            "Alpha query expansion (Radenovic et al.): each region's vector plus its n nearest catalog "
            "vectors weighted by similarity ** query_expansion_alpha, searched again. 0: off."
        ),
    )
    query_expansion_alpha: float = Field(default=3.0, ge=0.0, le=20.0)


class BatchingSettings(BaseModel):
    """Dynamic batching of detector and embedder calls across concurrent requests."""

    enabled: Literal["auto"] | bool = Field(
        default="auto",
        description=(
            "'auto': batch when a GPU is present (one kernel launch serves many requests); on the "
            "CPU, run the models inline in each request's thread, where a batch costs the same per "
            "item and one batcher thread per model caps the throughput (docs/BENCHMARKS.md, run 12)."
        ),
    )
    max_batch_size: int = Field(default=32, ge=1, le=1024)
    max_wait_ms: float = Field(default=4.0, ge=0.0, le=1000.0)
    max_queue: int = Field(default=64, ge=1, description="Requests waiting beyond this get 429.")


class CacheSettings(BaseModel):
    """Search results cached by (image sha256, index version, parameters, models)."""

    max_bytes: int = Field(default=64 * 1024 * 1024, ge=0, description="In-process LRU bound; 0 disables.")
    redis_url: str | None = Field(default=None, description="e.g. redis://127.0.0.1:6379/0 for a fleet.")
    ttl_s: int = Field(default=3600, ge=1)


class IngestSettings(BaseModel):
    """Catalog loading."""

    catalog_detector: str = Field(
        default="none",
        description="Detector spec for catalog photos; 'none' embeds each photo whole (product shots).",
    )
    fetch_timeout_s: float = Field(default=20.0, gt=0)
    fetch_allow_private_networks: bool = Field(
        default=False,
        description=(
            "Let manifest image URLs reach loopback/private addresses (a feed is often a third party's "
            "file: by default its URLs may only reach public addresses, checked as in api)."
        ),
    )
    fetch_allowed_networks: list[str] = Field(
        default_factory=list, description="CIDRs manifest image URLs may reach although private."
    )
    fetch_workers: int = Field(default=8, ge=1)
    max_image_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    max_pixels: int = Field(default=100_000_000, ge=1)


class UnderstandingSettings(BaseModel):
    """Reading the text in a screenshot (OCR) and using it, beside the pixels, to rank matches."""

    ocr: Literal["off", "auto", "always"] = Field(
        default="off",
        description=(
            "'auto': read text only where a cheap low-resolution text check finds some (a feed post, "
            "a shop card), 'always': read every query, 'off': never (no cost at all; the default "
            "while reading costs more than the 60 ms goal, docs/UNDERSTANDING.md). A request's "
            "ocr= overrides it."
        ),
    )
    probe_long_side: int = Field(
        default=320,
        ge=0,
        description="'auto' mode's text check: the text detector at this long side; 0 skips the check.",
    )
    probe_min_text_fraction: float = Field(
        default=0.002,
        ge=0.0,
        le=1.0,
        description="... reads the screenshot when text covers at least this share of the probe image.",
    )
    detect_long_side: int = Field(
        default=640,
        ge=64,
        description=(
            "Long side of the text detector's input (from the searched image). 960 cost 2x more and "
            "read no more product text; 512 misread 3% of the titles (docs/UNDERSTANDING.md)."
        ),
    )
    min_line_height: int = Field(
        default=10,
        ge=0,
        description="Text lines lower than this many pixels of the detector input are not recognised.",
    )
    lines_per_region: int = Field(
        default=3,
        ge=0,
        description=(
            "Lines recognised per product region: those under it (nearest first: a card's brand, "
            "title, price), then inside, then beside it. Recognition is what reading costs."
        ),
    )
    loose_lines: int = Field(
        default=2,
        ge=0,
        description="Lines tied to no product region recognised too, the tallest (a header, a shop name).",
    )
    max_lines: int = Field(
        default=12, ge=1, description="At most this many lines are recognised per image, the tallest."
    )
    min_line_score: float = Field(
        default=0.6, ge=0.0, le=1.0, description="Recognised lines below this confidence are dropped."
    )
    threads: int = Field(default=0, ge=0, description="ONNX Runtime CPU threads; 0 = all cores.")
    engine: Literal["auto", "onnxruntime", "openvino"] = Field(
        default="auto",
        description=(
            "Engine of the OCR models: 'auto' (the fastest this CPU may run, measured once per "
            "machine: docs/PRECISION.md), 'onnxruntime' or 'openvino'."
        ),
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto",
        description=(
            "'auto': measured, bf16 only where the CPU has it in hardware (AVX512_BF16, AMX: there "
            "it read the same text on the text benchmark at 1.6x the speed), else fp32."
        ),
    )
    text_fusion: bool = Field(
        default=True,
        description="Fuse a text match of the words read (or q=) with the visual ranking; off: pixels only.",
    )
    text_weight: float = Field(
        default=0.5,
        ge=0.0,
        description=(
            "Fused score = cosine similarity + text_weight x the item's text relevance relative to the "
            "best text match among the region's candidates (0..1); 0 ranks by pixels alone."
        ),
    )
    rerank_depth: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="Visual candidates per region that the text match re-ranks (at least k).",
    )
    max_word_share: float = Field(
        default=0.2,
        gt=0.0,
        le=1.0,
        description=(
            "Words read that match more than this share of the catalog's items (and more than 10 "
            "items) are not searched: they cannot tell items apart."
        ),
    )
    concurrent: bool = Field(
        default=True,
        description="Read the text in a thread of its own while the detector and the embedder run.",
    )
    cache_entries: int = Field(
        default=256, ge=0, description="Text read per image hash kept in memory; 0 disables."
    )


NUDENET_CLASSES: tuple[str, ...] = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)
"""The classes of NudeNet's 320n detector, in its output order (the model's own metadata)."""


class SafetyRule(BaseModel):
    """One line of a safety policy: when the model finds any of ``classes`` at ``min_score`` or more,
    ``action`` applies (the most severe action of the rules that fire wins)."""

    model_config = ConfigDict(extra="forbid")

    classes: list[str] = Field(min_length=1, description="NudeNet class names (NUDENET_CLASSES).")
    min_score: float = Field(default=0.5, ge=0.0, le=1.0, description="The model's confidence to act at.")
    action: Literal["allow", "flag", "refuse"] = Field(
        default="refuse",
        description="allow: nothing; flag: answer, with a flag in the response and a metric; refuse: 422.",
    )

    @field_validator("classes")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(NUDENET_CLASSES))
        if unknown:
            raise ValueError(f"unknown NudeNet class(es) {unknown}; known: {', '.join(NUDENET_CLASSES)}")
        return value


DEFAULT_SAFETY_RULES: tuple[SafetyRule, ...] = (
    SafetyRule(
        classes=["FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED", "ANUS_EXPOSED"],
        min_score=0.5,
        action="refuse",
    ),
    SafetyRule(classes=["FEMALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED"], min_score=0.5, action="flag"),
)
"""The default policy, measured on the clothing catalog and the people photos (docs/UNDERSTANDING.md)."""


class SafetySettings(BaseModel):
    """The upload safety gate: NudeNet's body-region detector under a policy of rules."""

    rules: list[SafetyRule] = Field(
        default_factory=lambda: [r.model_copy() for r in DEFAULT_SAFETY_RULES],
        description=(
            "The policy for uploads; [] (or only allow rules): no screening at all, the model never "
            "loads. Swimwear and underwear are products: covered classes are not in the default."
        ),
    )
    tenants: dict[str, list[SafetyRule]] = Field(
        default_factory=dict,
        description="Per-tenant policies by tenant name (tenancy): they replace `rules` for its searches.",
    )
    catalog_photos: bool = Field(
        default=False,
        description=(
            "Screen new catalog photos at ingest under `rules` (lookalike ingest, local runner): a "
            "photo the policy refuses is left out, its rows rejected with the classes found in the "
            "ingest report; a flagged one is loaded and logged."
        ),
    )
    input_side: int = Field(
        default=320,
        ge=160,
        le=640,
        multiple_of=32,
        description="NudeNet's input side (its own: 320); smaller is cheaper (docs/UNDERSTANDING.md).",
    )
    threads: int = Field(default=0, ge=0, description="ONNX Runtime CPU threads; 0 = all cores.")

    def policy_for(self, tenant: str | None) -> list[SafetyRule]:
        """The rules for a tenant's searches: its own where ``tenants`` names it, else ``rules``."""
        if tenant is not None and tenant in self.tenants:
            return self.tenants[tenant]
        return self.rules


class ExplainSettings(BaseModel):
    """Why this match: occlusion heatmaps of the query crop (``explain=true`` on /v1/search)."""

    grid: int = Field(
        default=7, ge=2, le=16, description="Cells per side of the heatmap: grid x grid occluded copies."
    )
    window: int = Field(
        default=2,
        ge=1,
        le=4,
        description="Side of the grey occluder in cells (it slides one cell at a time; > 1 smooths).",
    )
    max_matches: int = Field(
        default=1, ge=1, le=10, description="Matches per region explained (best first) when asked."
    )
    heatmap_side: int = Field(default=224, ge=32, le=1024, description="Long side of the heatmap PNG.")
    cache_entries: int = Field(
        default=512, ge=0, description="Heatmaps kept in memory by (image hash, box, item); 0 disables."
    )


class JobsSettings(BaseModel):
    """The durable job queue (``jobs/``, docs/JOBS.md): bulk work that outlives a request."""

    lease_s: float = Field(
        default=30.0,
        gt=0,
        description="A job whose worker went silent this long is claimed again (workers renew every third).",
    )
    poll_s: float = Field(default=1.0, gt=0, description="How often an idle worker looks for a job.")
    max_attempts: int = Field(
        default=3, ge=1, description="Claims of one job before it fails (its worker kept dying)."
    )
    run_in_server: bool = Field(
        default=True, description="Each `lookalike serve` process also runs queued jobs, one at a time."
    )
    bulk_runner: Literal["local", "ray"] = Field(
        default="local",
        description="Where POST /v1/jobs bulk searches run: in the worker's process, or on Ray (`ray.*`).",
    )
    max_manifest_bytes: int = Field(
        default=100 * 1024 * 1024, ge=1, description="Largest query manifest POST /v1/jobs accepts."
    )


class ServeDeploymentSettings(BaseModel):
    """The replicas of one Ray Serve deployment: autoscaled between two counts (equal: fixed)."""

    min_replicas: int = Field(default=1, ge=1, description="Replicas kept up however idle the service is.")
    max_replicas: int = Field(default=1, ge=1, description="Replicas the autoscaler may grow to.")
    target_ongoing_requests: float = Field(
        default=2.0, gt=0, description="Requests in flight per replica the autoscaler aims for."
    )
    num_cpus: float = Field(default=1.0, ge=0, description="CPUs each replica reserves on the cluster.")
    num_gpus: float | None = Field(
        default=None,
        ge=0,
        description="GPUs each replica reserves; None: 1 for a model on a cluster with GPUs, else 0.",
    )

    @model_validator(mode="after")
    def _bounds_in_order(self) -> ServeDeploymentSettings:
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas {self.max_replicas} is below min_replicas {self.min_replicas}")
        return self


class RayServeSettings(BaseModel):
    """The online API on Ray Serve (``lookalike serve --runner ray``, ``on_ray_serve/``, docs/SCALE.md):
    the FastAPI app (decode, index search, catalog rows) as the ingress, the detector and the embedder
    as deployments of their own that batch concurrent requests."""

    ingress: ServeDeploymentSettings = Field(
        default_factory=lambda: ServeDeploymentSettings(num_cpus=0.5, num_gpus=0),
        description="The API replicas: HTTP, decoding, the FAISS search and the catalog rows.",
    )
    detector: ServeDeploymentSettings = Field(
        default_factory=lambda: ServeDeploymentSettings(num_cpus=0.5),
        description="The detector replicas (one model each).",
    )
    embedder: ServeDeploymentSettings = Field(
        default_factory=lambda: ServeDeploymentSettings(num_cpus=1.0),
        description="The embedder replicas (one model each).",
    )
    max_batch_size: int = Field(
        default=8, ge=1, le=1024, description="Requests one model call takes at most (``@serve.batch``)."
    )
    batch_wait_ms: float = Field(
        default=2.0, ge=0, le=1000, description="How long a model replica waits for company for a batch."
    )
    model_threads: int = Field(
        default=0,
        ge=0,
        description="CPU threads of each model replica's ONNX Runtime; 0 = the node's cores, as one server.",
    )


class RaySettings(BaseModel):
    """Runs on a Ray cluster (``--runner ray``, ``on_ray/``, docs/SCALE.md)."""

    address: str | None = Field(
        default=None,
        description=(
            "None: start a local Ray cluster in this process; 'auto': join the cluster running on this "
            "machine (`ray start --head`); 'ray://host:10001': a remote cluster through Ray Client."
        ),
    )
    num_cpus: int | None = Field(default=None, ge=1, description="CPUs of a local cluster; None: all.")
    workers: int = Field(
        default=0, ge=0, description="Model actors (each loads the detector and embedder); 0 = one per CPU."
    )
    cpus_per_worker: float = Field(default=1.0, gt=0, description="CPUs reserved by each model actor.")
    gpus_per_worker: float = Field(
        default=0.0, ge=0, description="GPUs per model actor; 0 on a CPU cluster, 1 for one model per GPU."
    )
    batch_rows: int = Field(default=64, ge=1, description="Manifest rows per actor call.")
    object_store_mb: int | None = Field(
        default=1024,
        ge=64,
        description="Object store of a local cluster (MB); None: Ray's default (30% of RAM).",
    )
    serve: RayServeSettings = Field(default_factory=RayServeSettings)


class TenancySettings(BaseModel):
    """Who may call the API, and the limits of their plans (docs/TENANTS.md)."""

    auth: Literal["none", "keys"] = Field(
        default="none",
        description=(
            "'none': no keys, every caller may search, browse, write and administer every catalog "
            "(the laptop demo; never on a reachable port). 'keys': every request needs an API key."
        ),
    )
    redis_url: str | None = Field(
        default=None,
        description="Rate and monthly limits shared by every server process, e.g. redis://127.0.0.1:6379/0; "
        "None: the database keeps them (slower, still shared).",
    )
    redis_prefix: str = Field(
        default="lookalike",
        min_length=1,
        description="Prefix of the limits' Redis keys: one per deployment when several share a Redis.",
    )
    key_overlap_s: float = Field(
        default=24 * 3600.0, ge=0, description="How long a rotated key keeps working beside its successor."
    )


class Settings(BaseSettings):
    """The one configuration object of lookalike."""

    model_config = SettingsConfigDict(env_prefix="LOOKALIKE_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Field(default=Path("var"), description="Where the database and indexes live.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in data_dir."
    )
    database_pool_size: int = Field(
        default=10, ge=1, description="PostgreSQL connections kept open per server process."
    )
    database_max_overflow: int = Field(
        default=20, ge=0, description="Extra PostgreSQL connections a process may open under a burst."
    )
    detector: DetectorSettings = Field(default_factory=DetectorSettings)
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    batching: BatchingSettings = Field(default_factory=BatchingSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    understanding: UnderstandingSettings = Field(default_factory=UnderstandingSettings)
    safety: SafetySettings = Field(default_factory=SafetySettings)
    explain: ExplainSettings = Field(default_factory=ExplainSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    residency: ResidencySettings = Field(default_factory=ResidencySettings)
    tenancy: TenancySettings = Field(default_factory=TenancySettings)
    catalog_models: dict[str, CatalogModelChoice] = Field(
        default_factory=dict,
        description=(
            "Per-catalog models, e.g. {'furniture': {'detector': 'coco'}}; catalogs naming the same "
            "spec share one loaded model (docs/RESIDENCY.md)."
        ),
    )
    ray: RaySettings = Field(default_factory=RaySettings)
    export_dir: Path | None = Field(
        default=None,
        description=(
            "Where ONNX exports of the models are cached (the embedder's, the detector's rectangular "
            "inputs), made once per model and shape; None: ~/.cache/lookalike/onnx, shared by every data_dir."
        ),
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = _config_file.get() or os.environ.get("LOOKALIKE_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'lookalike.db').resolve()}"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "indexes"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    def public_data_dir(self) -> str:
        """The data folder as a client may be told it: relative to the working folder when it lies
        inside it (what the user typed, e.g. "data folder 'var'"), else only by the setting's name.
        An absolute path would tell every client how the server's disk is laid out (the server log
        names it)."""
        path = self.data_dir
        if path.is_absolute():
            try:
                path = path.resolve().relative_to(Path.cwd().resolve())
            except ValueError:
                return "data folder set by data_dir (LOOKALIKE_DATA_DIR)"
        if ".." in path.parts:
            return "data folder set by data_dir (LOOKALIKE_DATA_DIR)"
        return f"data folder {path.as_posix()!r} (data_dir)"

    @property
    def onnx_dir(self) -> Path:
        """The one cache root of every ONNX export (``export_dir``)."""
        return self.export_dir if self.export_dir is not None else default_export_dir()


def default_export_dir() -> Path:
    """Where ONNX exports are cached when nobody says: per user, shared by every data folder
    (exports are named by the model's hash and input shape, so sharing them is safe)."""
    return Path.home() / ".cache" / "lookalike" / "onnx"


_config_file: ContextVar[Path | None] = ContextVar("lookalike_config_file", default=None)
"""The TOML file of the ``load_settings`` call in progress (read by ``settings_customise_sources``)."""


@contextmanager
def _reading(config_file: Path | None) -> Iterator[None]:
    token = _config_file.set(config_file)
    try:
        yield
    finally:
        _config_file.reset(token)


def with_fields(settings: Settings, section: str, **fields: Any) -> Settings:
    """A copy of ``settings`` with fields of one section replaced (a command line's overrides);
    a field given as None keeps its value."""
    given = {name: value for name, value in fields.items() if value is not None}
    if not given:
        return settings
    return settings.model_copy(update={section: getattr(settings, section).model_copy(update=given)})


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings, optionally from a TOML file (same keys as the environment; the environment
    and ``overrides`` win over it). The file is read once, here; nothing is written anywhere."""
    with _reading(config_file):
        return Settings(**overrides)
