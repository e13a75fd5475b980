"""``auto`` by measurement: time every engine and precision this machine may run a model in, once
per machine, and keep the fastest.

What may run comes from the rules (``model_runtime.auto_candidates``: bf16 only with bf16 in
hardware, int8 only from a copy that kept recall). Flags alone do not say what is fastest: on an
AVX2 EPYC OpenVINO fp32 ran 0.6-1.05x ONNX Runtime and int8 without VNNI gained only 1.16x, on a
Xeon with AVX512_BF16 bf16 ran 2.2-2.4x (docs/PRECISION.md). So each candidate runs the model's
own input shape, one call of each in turn (drift hits all alike), one model at a time, and a
candidate replaces the baseline (the first: ONNX Runtime fp32, what the service ran before) only
when its fastest call is at least ``MARGIN`` times faster than the baseline's fastest
(``time_runs``): "no slower than today" holds by construction.

The result is cached in ``<export_dir>/runtime-choices``, one file per model (by hash), keyed by
the CPU model and flags, threads, candidate files, the trial's input and engine versions: a
machine measures once, every later process of it (uvicorn workers, restarts) runs the same
choice, and a file lock makes processes that start together wait for the first one's measurement
instead of disturbing it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from lookalike.cpu_features import CpuFeatures
from lookalike.imaging import file_sha256
from lookalike.model_runtime import RuntimeChoice

log = logging.getLogger(__name__)

MARGIN = 1.05
"""Speed-up over the baseline a candidate needs to be picked: below it, noise decides."""
CALLS = 25
"""Timed calls of each candidate, one of each in turn (after one warm-up call each)."""
_TRIAL = threading.Lock()
"""One trial at a time in this process (a model may open in a background thread while another
loads: the detector's int8 rectangle exports, the only shapes that time their own)."""
CACHE_FORMAT = "2"
"""2: fastest of alternating single calls (1: medians of per-round blocks, which a burst of other
work could bend)."""


@dataclass(frozen=True)
class Trial:
    """One candidate's timing: its fastest run in milliseconds, and the baseline's fastest over it
    (``time_runs``)."""

    engine: str
    precision: str
    ms: float
    speedup: float

    @property
    def name(self) -> str:
        return f"{self.engine} {self.precision}"


Measure = Callable[[Sequence[RuntimeChoice]], list[Trial]]
"""Times the candidates (baseline first) on this machine."""


def time_runs(
    runs: Sequence[Callable[[], object]], calls: int = CALLS, clock: Callable[[], float] = time.perf_counter
) -> list[tuple[float, float]]:
    """(fastest ms, its speed-up over ``runs[0]``'s fastest) of each call, after one warm-up call
    each. The calls alternate one at a time, ``calls`` of each, and each keeps its fastest: other
    work on the machine only ever adds time, and alternating single calls gives every candidate the
    same chances of a quiet moment. (Medians of per-round blocks let a burst that fell on one
    candidate's blocks decide: beside a second server warming up, the embedder's bf16 timed 0.94x
    ONNX Runtime fp32, where quiet trials give 1.5-1.7x.)"""
    for run in runs:
        run()
    best = [float("inf")] * len(runs)
    for _ in range(calls):
        for i, run in enumerate(runs):
            start = clock()
            run()
            best[i] = min(best[i], clock() - start)
    return [(ms * 1000.0, best[0] / ms) for ms in best]


def pick(
    candidates: Sequence[RuntimeChoice], trials: Sequence[Trial], margin: float = MARGIN
) -> RuntimeChoice:
    """The fastest candidate if it beats the baseline (the first) by ``margin``, else the baseline;
    the reason names every figure."""
    figures = ", ".join(f"{t.name} {t.ms:.1f} ms ({t.speedup:.2f}x)" for t in trials)
    best = max(range(len(trials)), key=lambda i: trials[i].speedup)
    if best == 0 or trials[best].speedup < margin:
        chosen, why = candidates[0], f"measured: nothing {margin:.2f}x faster than {trials[0].name}"
    else:
        chosen, why = candidates[best], f"measured fastest, {trials[best].speedup:.2f}x {trials[0].name}"
    return RuntimeChoice(chosen.engine, chosen.precision, chosen.model, f"{why}; {figures}")


def fingerprint(
    cpu: CpuFeatures,
    threads: int,
    candidates: Sequence[RuntimeChoice],
    versions: dict[str, str],
    trial_shape: tuple[int, ...] | None = None,
) -> str:
    """What a measurement holds for: the CPU, the threads, what was timed and on what input, the
    engines' versions."""
    files = [f"{c.engine}:{c.precision}:{c.model.name}" for c in candidates]
    key: dict[str, object] = {
        "cpu": cpu.model,
        "flags": sorted(cpu.flags),
        "threads": threads,
        "candidates": files,
        **versions,
    }
    if trial_shape is not None:
        key["input"] = list(trial_shape)
    return json.dumps(key, sort_keys=True)


def cache_file(cache_dir: Path, model: Path) -> Path:
    return cache_dir / f"{model.stem.split('-')[0]}-{file_sha256(model)[:16]}-v{CACHE_FORMAT}.json"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_suffix(".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _alone(cache_dir: Path | None) -> Iterator[None]:
    """Time nothing else meanwhile: one trial at a time among this process's threads and the
    processes that share ``cache_dir`` (uvicorn workers starting together), whatever the model.
    Another model's trial beside it bent it: the embedder's bf16 timed 1.19-1.25x beside the
    detector's rectangle trials, 1.5-1.7x alone."""
    with _TRIAL, ExitStack() as stack:
        if cache_dir is not None:
            with suppress(OSError):  # a read-only folder: this process's threads still take turns
                stack.enter_context(_locked(cache_dir / "trial"))
        yield


def measured_choice(
    candidates: Sequence[RuntimeChoice],
    model: Path,
    *,
    cache_dir: Path | None,
    cpu: CpuFeatures,
    threads: int,
    versions: dict[str, str],
    measure: Measure,
    trial_shape: tuple[int, ...] | None = None,
) -> RuntimeChoice:
    """The candidate this machine runs ``model`` fastest in: measured once, then read from the
    cache (see the module doc). One candidate is returned as it is, without measuring."""
    if len(candidates) == 1:
        return candidates[0]

    def timed_alone(choices: Sequence[RuntimeChoice]) -> list[Trial]:
        with _alone(cache_dir):
            return measure(choices)

    key = fingerprint(cpu, threads, candidates, versions, trial_shape)
    if cache_dir is None:
        return pick(candidates, timed_alone(candidates))
    path = cache_file(cache_dir, model)
    with ExitStack() as stack:
        try:
            stack.enter_context(_locked(path))
        except OSError as exc:  # a read-only export folder: measure, but every process again
            log.warning("runtime choice cache %s unusable (%s): measuring without it", path, exc)
            return pick(candidates, timed_alone(candidates))
        entries = _read(path)
        entry = entries.get(key)
        if entry is not None:
            for c in candidates:
                if (c.engine, c.precision) == (entry["engine"], entry["precision"]):
                    reason = f"{entry['reason']}; cached {entry['measured_at']}"
                    return RuntimeChoice(c.engine, c.precision, c.model, reason)
        trials = timed_alone(candidates)
        chosen = pick(candidates, trials)
        entries[key] = {
            "engine": chosen.engine,
            "precision": chosen.precision,
            "reason": chosen.reason,
            "trials": [asdict(t) for t in trials],
            "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        }
        try:
            _write(path, entries)
        except OSError as exc:
            log.warning("runtime choice not cached in %s (%s)", path, exc)
    log.info("measured %s: %s", model.name, chosen.reason)
    return chosen


def _read(path: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        log.warning("unreadable runtime choice cache %s: measuring again", path)
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, entries: dict[str, dict[str, object]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entries, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


__all__ = ["MARGIN", "Measure", "Trial", "cache_file", "fingerprint", "measured_choice", "pick", "time_runs"]
