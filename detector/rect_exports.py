"""Static ONNX exports of one YOLO checkpoint at rectangular input sizes, made once and cached.

A phone screenshot letterboxed into a 320x320 square is more than half grey padding. ultralytics
itself predicts with a minimal rectangle (``LetterBox(auto=True)``: pad only to the next multiple
of the stride), which halves the work for a 1170x2532 screenshot (320x160). ONNX Runtime runs a
static-shape graph much faster than a dynamic one on the CPU, so each rectangle gets its own
static export from the ``.pt`` checkpoint beside the ONNX file. Exports are cached on disk by
the checkpoint's hash and the shape; the first image of a new shape waits for its export
(about a second, once per machine), so every image of a given shape always runs the same graph
and results stay deterministic.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from lookalike.execution import ExecutionPolicy
from lookalike.imaging import file_sha256
from lookalike.model_runtime import RuntimeRequest
from lookalike.onnx_sessions import open_session

log = logging.getLogger(__name__)

EXPORT_FORMAT_VERSION = "1"

# The tracer's "might not generalize to other inputs" is the point of a static export.
warnings.filterwarnings("ignore", message=r"Converting a tensor to a Python boolean", module=r"ultralytics\.")

Shape = tuple[int, int]
"""(height, width) of the model input."""


def export_static(checkpoint: Path, shape: Shape, cache_dir: Path, key: str | None = None) -> Path:
    """The cached static ONNX export of ``checkpoint`` at ``shape``, exporting it if needed.

    ``key`` is the checkpoint's hash prefix when the caller already has it.
    """
    key = key or file_sha256(checkpoint)[:16]
    path = cache_dir / f"yolo-{key}-{shape[0]}x{shape[1]}-v{EXPORT_FORMAT_VERSION}.onnx"
    if path.is_file():
        return path
    from ultralytics import YOLO

    cache_dir.mkdir(parents=True, exist_ok=True)
    log.info("exporting %s at %dx%d (once; cached in %s)", checkpoint, *shape, cache_dir)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp, _quiet_ultralytics():
        # ultralytics writes the export beside the checkpoint: work on a copy, never in models/
        local = Path(tmp) / checkpoint.name
        shutil.copyfile(checkpoint, local)
        exported = YOLO(str(local), task="detect").export(
            format="onnx", imgsz=list(shape), dynamic=False, simplify=False, verbose=False
        )
        os.replace(exported, path)  # atomic: concurrent workers never see a half-written file
    return path


@contextlib.contextmanager
def _quiet_ultralytics() -> Iterator[None]:
    """ultralytics logs a banner and usage hints for every export: keep them out of our logs."""
    logger = logging.getLogger("ultralytics")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


class RectSessions:
    """Sessions per input shape for one checkpoint, in the square one's engine and precision; the
    square one is given. With int8, a shape that ``lookalike quantize`` did not quantise runs in
    the precision ``auto`` finds for it (or, with int8 pinned, the square input)."""

    def __init__(
        self,
        checkpoint: Path,
        square: Any,
        size: int,
        cache_dir: Path,
        threads: int,
        execution: ExecutionPolicy,
        runtime: RuntimeRequest | None = None,
    ) -> None:
        self._checkpoint = checkpoint
        self._runtime = runtime
        self._execution = execution
        self._cache_dir = cache_dir
        self._threads = threads
        self._lock = threading.Lock()
        self._sessions: dict[Shape, Future[Any]] = {}
        done: Future[Any] = Future()
        done.set_result(square)
        self._sessions[(size, size)] = done
        self.square = square

    def get(self, shape: Shape) -> Any:
        """The session for ``shape``; the square one when its export fails."""
        with self._lock:
            future = self._sessions.get(shape)
            owner = future is None
            if owner:
                future = self._sessions[shape] = Future()
        assert future is not None
        if owner:
            try:
                future.set_result(self._open(shape))
            except Exception as exc:  # an export failure must not fail the search: use the square
                log.warning(
                    "no %dx%d export of %s (%s); using the square input", *shape, self._checkpoint, exc
                )
                future.set_result(self.square)
        return future.result()

    def prepare(self, shapes: list[Shape]) -> None:
        """Export and open these shapes in the background (ahead of the first such image)."""
        # Not a daemon: a process that ends while an export is inside torch aborts ("terminate
        # called without an active exception"); exit waits the second the export takes.
        threading.Thread(
            target=lambda: [self.get(s) for s in shapes], daemon=False, name="yolo-export"
        ).start()

    @functools.cached_property
    def _key(self) -> str:
        return file_sha256(self._checkpoint)[:16]  # once, not once per shape

    def _open(self, shape: Shape) -> Any:
        path = export_static(self._checkpoint, shape, self._cache_dir, key=self._key)
        square = getattr(self.square, "choice", None)
        if self._runtime is None or square is None or square.precision == "int8":
            return open_session(path, self._threads, self._execution, self._runtime)
        # The same network as the square input, so its engine and precision, with no trial of its
        # own: shapes open in the background beside the first requests, and a trial timed beside
        # them cached the slower engine for good (a Zen 5: bf16 0.53x ONNX Runtime beside the
        # first detections, where quiet trials of every shape give 1.2-1.6x).
        pinned = dataclasses.replace(self._runtime, engine=square.engine, precision=square.precision)
        session = open_session(path, self._threads, self._execution, pinned)
        session.choice = dataclasses.replace(session.choice, reason=f"as the square input: {square.reason}")
        return session
