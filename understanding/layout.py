"""Tie each text line to the product region it describes: inside it, under it, or beside it.

Shop cards print the title under the photo, posts put a caption under or beside the picture.
A line is tied to the nearest region it lies inside, else the nearest one whose bottom edge it
sits under (overlapping it horizontally), else beside (overlapping it vertically); lines tied to
no region belong to the whole screen (a header, a caption).
"""

from __future__ import annotations

from collections.abc import Sequence

from lookalike.types import Box, TextLine

BELOW_REACH = 0.5
"""How far under a region (as a share of its height) a line still belongs to it."""
BESIDE_REACH = 0.6
"""How far to a region's side (as a share of its width) a line still belongs to it."""
MIN_OVERLAP = 0.5
STATUS_BAR = 0.06
"""The top share of a phone screenshot (taller than 1.8x its width) that holds the status bar."""
PHONE_ASPECT = 1.8


def status_bar_bottom(width: float, height: float) -> float:
    """Where a phone screenshot's status bar ends (0 for other images)."""
    return STATUS_BAR * height if height >= PHONE_ASPECT * width else 0.0


def _overlap(a1: float, a2: float, b1: float, b2: float) -> float:
    """Share of [a1, a2] that [b1, b2] covers."""
    return max(0.0, min(a2, b2) - max(a1, b1)) / max(a2 - a1, 1e-6)


def distance(line: Box, region: Box) -> float | None:
    """How far the line is from the region (0 inside), or None when it does not belong to it."""
    cx, cy = (line.x1 + line.x2) / 2, (line.y1 + line.y2) / 2
    if region.x1 <= cx <= region.x2 and region.y1 <= cy <= region.y2:
        return 0.0
    if _overlap(line.x1, line.x2, region.x1, region.x2) >= MIN_OVERLAP:
        gap = line.y1 - region.y2
        if -line.height <= gap <= BELOW_REACH * region.height:
            return max(gap, 0.0) + 1.0
    if _overlap(line.y1, line.y2, region.y1, region.y2) >= MIN_OVERLAP:
        gap = max(line.x1 - region.x2, region.x1 - line.x2)
        if gap <= BESIDE_REACH * region.width:
            return max(gap, 0.0) + 1.0 + region.height  # under beats beside
    return None


def tie_lines(
    lines: Sequence[TextLine], regions: Sequence[Box]
) -> tuple[list[list[TextLine]], list[TextLine]]:
    """(lines of each region, lines of no region), each in reading order. A line inside nested
    regions goes to the smallest."""
    per_region: list[list[TextLine]] = [[] for _ in regions]
    loose: list[TextLine] = []
    for line in lines:
        best: tuple[float, float, int] | None = None
        for i, region in enumerate(regions):
            d = distance(line.box, region)
            if d is not None and (best is None or (d, region.area) < best[:2]):
                best = (d, region.area, i)
        if best is None:
            loose.append(line)
        else:
            per_region[best[2]].append(line)
    return per_region, loose


def _reading_priority(line: Box, region: Box) -> tuple[int, float] | None:
    """How much a line tells about a region: under it first (a card's brand and title, nearest
    first), then inside it (a print, a label), then beside it; None: not the region's."""
    d = distance(line, region)
    if d is None:
        return None
    cx, cy = (line.x1 + line.x2) / 2, (line.y1 + line.y2) / 2
    inside = region.x1 <= cx <= region.x2 and region.y1 <= cy <= region.y2
    if inside:
        return (1, line.y1 - region.y1)
    if d <= 1.0 + BELOW_REACH * region.height:  # beside scores past the region's height
        return (0, d)
    return (2, d)


def choose_lines(
    lines: Sequence[Box], regions: Sequence[Box], per_region: int, loose: int, status_bar: float = 0.0
) -> list[int]:
    """Indexes (ascending) of the lines worth recognising: each region's ``per_region`` most telling
    lines (under it, nearest first, then inside, then beside), then the ``loose`` tallest lines of
    no region (a header, a shop's name) that end below ``status_bar`` (a phone's clock and battery).
    With no region at all: the ``per_region + loose`` tallest.

    Recognition is what reading costs (about a millisecond per 16 px of line width); the status
    bar, tab bar and price tags of other cards are not worth it."""
    chosen: set[int] = set()
    tied: set[int] = set()
    for region in regions:
        ranked = []
        for i, line in enumerate(lines):
            priority = _reading_priority(line, region)
            if priority is not None:
                ranked.append((priority, i))
                tied.add(i)
        chosen.update(i for _, i in sorted(ranked)[:per_region])
    others = [i for i in range(len(lines)) if i not in tied and lines[i].y2 > status_bar]
    budget = loose if regions else per_region + loose
    tallest = sorted(others, key=lambda i: (-lines[i].height, -lines[i].area))[:budget]
    return sorted(chosen | set(tallest))
