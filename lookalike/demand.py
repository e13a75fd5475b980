"""How many requests this process has in flight, for the stages that size their threads by it.

The runtime hands over its ``InFlight.count`` once (``set_source``); FAISS's team size
(``index.threads``) and the ONNX Runtime sessions (``lookalike.onnx_sessions``) read it.
``None`` means the process never said (a CLI, a script), and each reader keeps its default.
"""

from __future__ import annotations

from collections.abc import Callable

Source = Callable[[], int]

_source: Source | None = None


def set_source(count: Source | None) -> Source | None:
    """Where the count comes from from now on; returns the previous source (to restore it)."""
    global _source
    previous, _source = _source, count
    return previous


def requests_in_flight() -> int | None:
    return None if _source is None else _source()
