"""Run-time policies that depend on the hardware: batching, search concurrency, FAISS threads."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from index import threads
from lookalike.batching import InFlight
from lookalike.devices import gpu_present
from lookalike.runtime import Runtime
from lookalike.settings import ApiSettings, BatchingSettings, Settings


def _runtime(enabled: bool | str = "auto", search_threads: int = 0, serving: bool = True) -> Runtime:
    settings = Settings(
        batching=BatchingSettings(enabled=enabled),  # type: ignore[arg-type]
        api=ApiSettings(search_threads=search_threads),
    )
    return Runtime(settings, serving=serving)


def test_auto_batches_only_where_a_gpu_runs_the_models() -> None:
    assert _runtime("auto").batching is gpu_present()
    assert _runtime(True).batching is True
    assert _runtime(False).batching is False
    assert _runtime(True, serving=False).batching is False  # eval and the CLI call models directly


def test_with_a_gpu_auto_batches_and_admits_enough_searches_to_fill_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import lookalike.runtime

    monkeypatch.setattr(lookalike.runtime, "gpu_present", lambda: True)
    runtime = _runtime("auto")
    assert runtime.batching is True
    assert runtime.search_threads == 32


def test_batching_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for text, expected in (("auto", "auto"), ("true", True), ("false", False)):
        monkeypatch.setenv("LOOKALIKE_BATCHING__ENABLED", text)
        assert Settings().batching.enabled == expected


def test_inline_models_compute_one_search_more_than_cores_and_batchers_gather_many() -> None:
    cores = os.cpu_count() or 1
    assert _runtime(False).search_threads == cores + 1
    assert _runtime(True).search_threads == 32
    assert _runtime(False, search_threads=7).search_threads == 7


@pytest.fixture
def searches(requests_in_flight: InFlight) -> Iterator[InFlight]:
    yield requests_in_flight
    threads.use_threads(threads.MAX_THREADS)


def test_a_lone_search_uses_every_core_and_concurrent_ones_one_each(searches: InFlight) -> None:
    with searches:
        threads.for_queries(3)
        assert threads.current() == threads.MAX_THREADS
    with searches, searches, searches, searches:
        threads.for_queries(3)
        assert threads.current() == 1
        threads.for_queries(threads.SMALL_BATCH)
        assert threads.current() == threads.MAX_THREADS  # a big batch is worth the team either way


def test_importing_ultralytics_does_not_leave_children_one_openmp_thread() -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    code = "import lookalike, ultralytics, os; print(os.environ['OMP_NUM_THREADS'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == str(len(os.sched_getaffinity(0)))
