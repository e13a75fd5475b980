"""What the CPU under this process runs natively: the flags that decide bf16 and int8 speed.

bf16 is only fast where the CPU has bf16 dot products (AVX512_BF16 or AMX); elsewhere a runtime
emulates it, slower than fp32. int8 runs everywhere, fastest with VNNI or AMX int8 dot products.
The flags come from ``/proc/cpuinfo`` (what ``lscpu`` shows), read once per process.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
INT8_DOT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


@dataclass(frozen=True)
class CpuFeatures:
    """A CPU's model name and instruction-set flags (lower case, as ``/proc/cpuinfo`` spells them)."""

    model: str
    flags: frozenset[str]

    @property
    def native_bf16(self) -> bool:
        """bf16 matrix products in hardware: bf16 inference is faster than fp32 here."""
        return bool(self.flags & BF16_FLAGS)

    @property
    def int8_dot(self) -> bool:
        """int8 dot-product instructions (VNNI, AMX): int8 inference gains the most here."""
        return bool(self.flags & INT8_DOT_FLAGS)

    @property
    def avx512(self) -> bool:
        return "avx512f" in self.flags

    def summary(self) -> str:
        """The model and the flags that matter here, for logs and benchmark records."""
        wanted = sorted(self.flags & (BF16_FLAGS | INT8_DOT_FLAGS | {"avx2", "avx512f"}))
        return f"{self.model} ({', '.join(wanted) or 'no AVX2'})"


def parse_cpuinfo(text: str) -> CpuFeatures:
    """The first processor's model name and flags in a ``/proc/cpuinfo`` text."""
    model, flags = "unknown CPU", frozenset[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown CPU":
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
    return CpuFeatures(model, flags)


@cache
def this_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuFeatures:
    """This machine's CPU; no flags where ``/proc/cpuinfo`` cannot be read (then nothing is native)."""
    try:
        return parse_cpuinfo(cpuinfo.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return CpuFeatures("unknown CPU", frozenset())


__all__ = ["CpuFeatures", "parse_cpuinfo", "this_cpu"]
