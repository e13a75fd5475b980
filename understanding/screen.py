"""When to read a screenshot, and reading it once per image: the policy around ``TextReader``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal, get_args

from lookalike.execution import ExecutionPolicy
from lookalike.imaging import decode_image
from lookalike.settings import UnderstandingSettings
from lookalike.types import DecodedImage, TextLine
from understanding.ocr import ReadCache, ReaderOptions, TextReader

OcrMode = Literal["off", "auto", "always"]
OCR_MODES: tuple[str, ...] = get_args(OcrMode)
MAX_OCR_PIXELS = 40_000_000
"""The full-size decode for reading is bounded like an upload (the draft decode already passed)."""


@dataclass
class ScreenText:
    """What reading one screenshot found, and what it cost."""

    lines: list[TextLine] = field(default_factory=list)
    read: bool = False
    """Whether recognition ran (an 'auto' probe that found no text leaves it False)."""
    timings_ms: dict[str, float] = field(default_factory=dict)


class ScreenReader:
    """Reads the text of query screenshots per the settings; the models load on first use."""

    def __init__(self, settings: UnderstandingSettings, execution: ExecutionPolicy | None = None) -> None:
        self.settings = settings
        self.execution = execution
        self.cache = ReadCache(settings.cache_entries)
        self._reader: TextReader | None = None

    @property
    def reader(self) -> TextReader:
        if self._reader is None:
            s = self.settings
            options = ReaderOptions(
                detect_long_side=s.detect_long_side,
                min_line_height=s.min_line_height,
                max_lines=s.max_lines,
                min_line_score=s.min_line_score,
                threads=s.threads,
            )
            self._reader = TextReader(options, self.execution)
        return self._reader

    def read(
        self, image: DecodedImage, mode: OcrMode | None = None, original: bytes | None = None
    ) -> ScreenText:
        """The lines of ``image`` (its decoded pixels' coordinates) per ``mode`` (default: the setting).

        ``original``: the bytes of an image decoded at a reduced scale; the lines are then read
        from a full-size decode (the quick check still looks at the small one)."""
        mode = mode or self.settings.ocr
        if mode == "off":
            return ScreenText()
        key = f"{image.sha256}:{image.width}x{image.height}:{self.reader.spec}"
        cached = self.cache.get(key)
        if cached is not None:
            return ScreenText(cached, read=True, timings_ms={"ocr_cached": 1.0})
        timings: dict[str, float] = {}
        if mode == "auto" and self.settings.probe_long_side > 0:
            start = time.perf_counter()
            share = self.reader.probe(image.pixels, self.settings.probe_long_side)
            timings["ocr_probe"] = (time.perf_counter() - start) * 1000.0
            if share < self.settings.probe_min_text_fraction:
                return ScreenText(timings_ms=timings)
        start = time.perf_counter()
        if original is not None and image.scale < 1.0:
            full = decode_image(
                original, source=image.source, max_bytes=len(original), max_pixels=MAX_OCR_PIXELS
            )
            timings["ocr_decode"] = (time.perf_counter() - start) * 1000.0
            lines = [
                TextLine(t.text, t.box.scaled(image.scale), t.score)
                for t in self.reader.read(full.pixels, timings)
            ]
        else:
            lines = self.reader.read(image.pixels, timings)
        timings["ocr"] = (time.perf_counter() - start) * 1000.0
        self.cache.put(key, lines)
        return ScreenText(lines, read=True, timings_ms=timings)
