"""The values that flow between stages: image -> regions -> vectors -> neighbours -> rows.

Every stage takes and returns these types, so no stage reaches into another's internals. A
catalog item's fields are declared in ``lookalike.items`` (``CatalogItem`` is re-exported here).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from PIL import Image

from lookalike.items import CatalogItem

Vectors = npt.NDArray[np.float32]
"""A (n, dim) batch of L2-normalised float32 vectors."""


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in pixel coordinates of the decoded (EXIF-upright) image."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def as_list(self) -> list[float]:
        return [self.x1, self.y1, self.x2, self.y2]

    def clipped(self, width: int, height: int) -> Box:
        return Box(
            min(max(self.x1, 0.0), float(width)),
            min(max(self.y1, 0.0), float(height)),
            min(max(self.x2, 0.0), float(width)),
            min(max(self.y2, 0.0), float(height)),
        )

    def scaled(self, factor: float) -> Box:
        return Box(self.x1 * factor, self.y1 * factor, self.x2 * factor, self.y2 * factor)

    def iou(self, other: Box) -> float:
        ix = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    @staticmethod
    def full(width: int, height: int) -> Box:
        return Box(0.0, 0.0, float(width), float(height))


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """An RGB image decoded once, with the hash of its original bytes."""

    pixels: Image.Image
    sha256: str
    source: str = ""
    scale: float = 1.0
    """Decoded pixels per original pixel: below 1 when JPEG was decoded at a reduced DCT scale."""

    @property
    def width(self) -> int:
        return self.pixels.width

    @property
    def height(self) -> int:
        return self.pixels.height

    @property
    def original_width(self) -> int:
        return round(self.width / self.scale)

    @property
    def original_height(self) -> int:
        return round(self.height / self.scale)

    def crop(self, box: Box) -> Image.Image:
        b = box.clipped(self.width, self.height)
        return self.pixels.crop((int(b.x1), int(b.y1), round(b.x2), round(b.y2)))


@dataclass(frozen=True, slots=True)
class Region:
    """A detected (or user-given) part of an image that holds one product."""

    box: Box
    category: str | None = None
    score: float = 1.0


@dataclass(frozen=True, slots=True)
class TextLine:
    """A line of text read in an image (OCR), with its box and the recogniser's confidence."""

    text: str
    box: Box
    score: float


@dataclass(frozen=True, slots=True)
class Neighbour:
    """One index hit: the vector id (a catalog region) and its cosine similarity."""

    vector_id: int
    score: float


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a crop matched an item: how much the cosine drops when each cell of the crop is hidden."""

    grid: list[list[float]]
    """Rows top to bottom, cells left to right: the cosine lost with the cell occluded (>0: it mattered)."""
    score: float
    """Cosine of the whole crop to the item's nearest catalog vector (the baseline of the drops)."""
    png_base64: str
    """The heatmap over the crop, as a base64 PNG."""
    width: int
    height: int


@dataclass(slots=True)
class Match:
    """A catalog item matched to a query region."""

    item: CatalogItem
    score: float
    signals: tuple[str, ...] = ("visual",)
    """Which rankings found the item: "visual" (the crop's vector), "text" (words read or asked).
    With "text", ``score`` is the fused score (cosine + text_weight x relative relevance)."""
    explanation: Explanation | None = None
    """A heatmap of what in the query crop drove the match (``explain=true``)."""


@dataclass(frozen=True, slots=True)
class SafetyFinding:
    """A class the safety gate's model found in an upload, at a score a policy rule acts on."""

    label: str
    score: float
    action: str


@dataclass(slots=True)
class RegionResult:
    """One query region and its matches, best first."""

    region: Region
    matches: list[Match]
    text: list[str] = field(default_factory=list)
    """Lines read inside, under or beside this region (OCR), in reading order."""


@dataclass(slots=True)
class SearchResult:
    """What one screenshot search returns, with per-stage timings in milliseconds."""

    catalog: str
    index_version: str
    image_width: int
    image_height: int
    regions: list[RegionResult]
    timings_ms: dict[str, float] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)
    """Every line read in the screenshot (OCR), in reading order; empty when OCR did not run."""
    query_text: str | None = None
    """The words asked (q=) and read, after clean-up; of those read, words that match a large
    share of the catalog are not searched (``understanding.max_word_share``)."""
    safety: str | None = None
    """The safety gate's verdict on the upload ("allow" or "flag"); None: not screened."""
    safety_findings: list[SafetyFinding] = field(default_factory=list)


__all__ = [
    "Box",
    "CatalogItem",
    "DecodedImage",
    "Explanation",
    "Match",
    "Neighbour",
    "Region",
    "RegionResult",
    "SafetyFinding",
    "SearchResult",
    "TextLine",
    "Vectors",
]
