"""Items the evaluation holds back: a detector must never be trained on them.

The split itself lives in the shared ground (``lookalike.splits``), which the benchmark
generator reads too; the detector never imports the evaluation code."""

from __future__ import annotations

from pathlib import Path

from lookalike.splits import clothing_benchmark_targets


def write_item_ids(ids: set[str], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(f"{i}\n" for i in sorted(ids)), encoding="utf-8")
    return out


__all__ = ["clothing_benchmark_targets", "write_item_ids"]
