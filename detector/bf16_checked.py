"""Which detector weights ``auto`` may run in bf16: those whose bf16 boxes were measured to keep recall.

bf16 moves a detector's boxes and scores a little, and whether that costs recall depends on the
weights: garment-yolo v3 kept it, v4 lost people-posts region recall@1 0.010 and sat at the edge
of grocery's 0.005 tolerance, v5 and v6 keep it (docs/PRECISION.md). So the check is per file: weights
listed here (by sha256) may take bf16 under ``auto`` on a CPU with bf16 in hardware; any other
weights (a retrained garment-yolo, a user's ``yolo:`` file, NudeNet) keep fp32 until measured, and
a pinned ``precision = "bf16"`` runs every one of them.
"""

from __future__ import annotations

from pathlib import Path

from lookalike.imaging import file_sha256

BF16_CHECKED: dict[str, str] = {
    "820dd25d76990009f518cebb318db0b823cc0f6d434615e0f0a9a60038677511": (
        "garment-yolo v6, 2026-12-07, AMD EPYC Zen 5 (AVX512_BF16): both models bf16 against both "
        "fp32 (queries; catalogs fp32), `lookalike eval` + `bench.paired_recall`: grocery (2,485 "
        "queries) item recall@1 / @10 / @20 +0.005 / +0.002 / +0.002; people-posts region recall@1 "
        "0.000, item @1 0.000; clothing-screenshots item recall@1 -0.011 (one query of 95, lost by the "
        "embedder's bf16: the detector alone in bf16 keeps 1.000) and region recall@1 1.000 -> 0.985 "
        "(the detector alone: 0.990, as v5's bf16 on this CPU; boxes the same at IoU 0.9 for 99.6%)"
    ),
    "a34f27d57931081d25c1a7423a0e1cf8fe7292425584f870500ea5ac1af05de9": (
        "garment-yolo v5, 2026-12-07, AMD EPYC Zen 4 (AVX512_BF16): both models bf16 against both "
        "fp32 (queries; catalogs fp32), `lookalike eval` + `bench.paired_recall`: grocery (2,485 "
        "queries) item recall@1 / @10 / @20 -0.0004 / +0.0016 / +0.0028; clothing-screenshots item "
        "recall@1 0.000, region recall@1 -0.005 (one region of 200; boxes identical at IoU 0.9); "
        "people-posts region recall@1 +0.004; the same day on an Intel Xeon with AMX: grocery @1 / @10 "
        "0 / +0.002, clothing-screenshots region recall@1 -0.005, people-posts +0.004"
    ),
}
"""sha256 of the detector weights measured in bf16 -> what was measured (docs/PRECISION.md)."""


def bf16_checked(weights: str | Path) -> bool:
    """Were these weights' bf16 boxes measured to keep recall (``BF16_CHECKED``)? False for a hub
    name or a file that does not exist here."""
    path = Path(weights)
    return path.is_file() and file_sha256(path) in BF16_CHECKED
