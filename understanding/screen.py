"""When to read a screenshot, which of its lines to read, and reading each line once per image:
the policy around ``TextReader``.

Reading is two steps. ``find`` detects the text lines (the DB detector on the searched image at
``detect_long_side``; beside the garment detector, in a thread of the search's). ``recognise``
then reads only the lines worth it for the product regions found (``choose_lines``: under, inside
or beside a region, a few per region, plus the tallest loose lines): recognition is most of
reading's cost, and the status bar, tab bar or the price tags of other cards are not worth it.
Both steps are kept per image hash, so a second search of a screenshot (another tapped box)
detects nothing again and recognises only lines not read before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from lookalike.execution import ExecutionPolicy
from lookalike.model_runtime import RuntimeRequest
from lookalike.settings import UnderstandingSettings, default_export_dir
from lookalike.types import Box, DecodedImage, TextLine
from understanding.layout import choose_lines, status_bar_bottom
from understanding.ocr import Quad, ReadCache, ReaderOptions, TextReader, quad_box, quad_height

OcrMode = Literal["off", "auto", "always"]
OCR_MODES: tuple[str, ...] = get_args(OcrMode)


@dataclass
class FoundLines:
    """The text lines detected in one image (its pixels' coordinates) and those read so far."""

    quads: list[Quad]
    read: dict[int, TextLine | None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def boxes(self) -> list[Box]:
        return [quad_box(q) for q in self.quads]


@dataclass
class FoundText:
    """What ``find`` left for ``recognise``: the lines (None: not to be read) and the cost so far."""

    lines: FoundLines | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class ScreenText:
    """What reading one screenshot found, and what it cost."""

    lines: list[TextLine] = field(default_factory=list)
    read: bool = False
    """Whether recognition ran (an 'auto' probe that found no text leaves it False)."""
    timings_ms: dict[str, float] = field(default_factory=dict)


class ScreenReader:
    """Reads the text of query screenshots per the settings; the models load on first use."""

    def __init__(
        self,
        settings: UnderstandingSettings,
        execution: ExecutionPolicy | None = None,
        export_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.execution = execution
        self.export_dir = export_dir
        self.cache: ReadCache[FoundLines] = ReadCache(settings.cache_entries)
        self._reader: TextReader | None = None
        self._loading = threading.Lock()

    @property
    def reader(self) -> TextReader:
        with self._loading:
            if self._reader is None:
                s = self.settings
                options = ReaderOptions(
                    detect_long_side=s.detect_long_side,
                    min_line_height=s.min_line_height,
                    max_lines=s.max_lines,
                    min_line_score=s.min_line_score,
                    threads=s.threads,
                    runtime=RuntimeRequest(
                        s.engine, s.precision, self.export_dir or default_export_dir(), auto_int8=False
                    ),
                )
                self._reader = TextReader(options, self.execution)
            return self._reader

    def find(self, image: DecodedImage, mode: OcrMode | None = None) -> FoundText:
        """The text lines of ``image`` per ``mode`` (default: the setting), detected, not read."""
        mode = mode or self.settings.ocr
        if mode == "off":
            return FoundText()
        key = f"{image.sha256}:{image.width}x{image.height}:{self.reader.spec}"
        cached = self.cache.get(key)
        if cached is not None:
            return FoundText(cached, {"ocr_cached": 1.0})
        timings: dict[str, float] = {}
        if mode == "auto" and self.settings.probe_long_side > 0:
            start = time.perf_counter()
            share = self.reader.probe(image.pixels, self.settings.probe_long_side)
            timings["ocr_probe"] = (time.perf_counter() - start) * 1000.0
            if share < self.settings.probe_min_text_fraction:
                return FoundText(timings_ms=timings)
        start = time.perf_counter()
        found = FoundLines(self.reader.find(image.pixels))
        timings["ocr_detect"] = (time.perf_counter() - start) * 1000.0
        self.cache.put(key, found)
        return FoundText(found, timings)

    def recognise(
        self, image: DecodedImage, found: FoundText, regions: Sequence[Box] | None = None
    ) -> ScreenText:
        """Read the lines ``choose_lines`` picks for the product ``regions`` (None: every line, the
        tallest ``max_lines``); lines read before for this image are not read again."""
        lines = found.lines
        timings = dict(found.timings_ms)
        if lines is None:
            return ScreenText(timings_ms=timings)
        start = time.perf_counter()
        s = self.settings
        boxes = lines.boxes
        if regions is None:
            wanted = list(range(len(boxes)))
        else:
            bar = status_bar_bottom(image.width, image.height)
            wanted = choose_lines(boxes, regions, s.lines_per_region, s.loose_lines, bar)
        if len(wanted) > s.max_lines:
            tallest = sorted(wanted, key=lambda i: -quad_height(lines.quads[i]))[: s.max_lines]
            wanted = sorted(tallest)
        with lines.lock:  # two searches of one screenshot read each line once
            missing = [i for i in wanted if i not in lines.read]
            if missing:
                read = self.reader.recognise_lines(image.pixels, [lines.quads[i] for i in missing], timings)
                lines.read.update(zip(missing, read, strict=True))
            out = [line for i in wanted if (line := lines.read[i]) is not None]
        timings["ocr"] = timings.get("ocr_detect", 0.0) + (time.perf_counter() - start) * 1000.0
        return ScreenText(out, read=True, timings_ms=timings)

    def read(
        self, image: DecodedImage, mode: OcrMode | None = None, regions: Sequence[Box] | None = None
    ) -> ScreenText:
        """``find`` then ``recognise``: the lines of ``image`` (its pixels' coordinates)."""
        return self.recognise(image, self.find(image, mode), regions)
