"""Schemathesis over the whole OpenAPI document the app serves at test time - every operation,
including those added after this test was written: no 5xx, and every answer matches the schema.

Valid and invalid inputs both: invalid ones must be refused with a 4xx problem document, never
a 500. ``make test`` runs a short, repeatable pass (5 cases per operation and mode); ``make fuzz``
a long random one (``--fuzz-examples``), whose figures are in docs/RELIABILITY.md.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.conftest import FUZZ_PROFILE

if TYPE_CHECKING:
    from tests.api_fixtures import ShopCatalog

pytest_plugins = ["tests.api_fixtures"]

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def fuzz(operation: Any, mode: GenerationMode, cases: Counter[str], statuses: Counter[int]) -> Any:
    """One hypothesis test over one operation's generated cases, counting them and their statuses."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(parent=settings.get_profile(FUZZ_PROFILE))
    def run(case: Any) -> None:
        response = case.call_and_validate(checks=CHECKS)
        cases[operation.label] += 1
        statuses[response.status_code] += 1

    return run


def shard_of(config: pytest.Config) -> tuple[int, int]:
    k, n = (int(part) for part in str(config.getoption("--fuzz-shard")).split("/"))
    assert 1 <= k <= n, "--fuzz-shard is K/N with 1 <= K <= N"
    return k, n


@pytest.mark.slow
def test_no_operation_answers_5xx_or_off_schema(
    api_client: TestClient, shop_catalog: ShopCatalog, pytestconfig: pytest.Config
) -> None:
    app = api_client.app  # lifespan already run: models and the shop catalog loaded
    assert isinstance(app, FastAPI)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    k, n = shard_of(pytestconfig)
    pairs = [(op, mode) for op in operations for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    mine = pairs[k - 1 :: n]
    rounds = max(1, int(pytestconfig.getoption("--fuzz-rounds") or 1))
    report = pytestconfig.getoption("--fuzz-report")
    cases: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    seconds: Counter[str] = Counter()
    failures: dict[str, str] = {}
    started = time.perf_counter()
    for done in range(1, rounds + 1):
        for operation, mode in mine:
            label = f"{operation.label} ({mode.value})"
            if label in failures:
                continue
            began = time.perf_counter()
            try:
                fuzz(operation, mode, cases, statuses)()
            except KeyboardInterrupt:
                raise
            except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
                pass
            except BaseException as exc:  # collect every operation's failure, then report them all
                failures[label] = failure_text(exc)
            seconds[operation.label] += time.perf_counter() - began
            if report:  # after every pair: a run stopped early still says what it covered
                write_report(Path(report), operations, cases, statuses, failures, started, done - 1)
        if report:
            write_report(Path(report), operations, cases, statuses, failures, started, done)
    print(
        f"\nfuzz: {sum(cases.values())} cases over {len({op.label for op, _ in mine})} operations "
        f"in {time.perf_counter() - started:.0f} s; statuses {dict(sorted(statuses.items()))}"
    )
    for label, spent in seconds.most_common(5):
        print(f"  slowest: {label}: {cases[label]} cases in {spent:.1f} s")
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    assert not [s for s in statuses if s >= 500]


def failure_text(exc: BaseException) -> str:
    """The failure and, for a group (hypothesis' "unreliable results"), what each member said."""
    parts = [str(exc)]
    if isinstance(exc, BaseExceptionGroup):
        parts += [f"{type(sub).__name__}: {sub}" for sub in exc.exceptions]
    return "\n".join(parts)[:4000]


def write_report(
    path: Path,
    operations: list[Any],
    cases: Counter[str],
    statuses: Counter[int],
    failures: dict[str, str],
    started: float,
    rounds_done: int,
) -> None:
    body = {
        "operations": sorted({op.label for op in operations}),
        "cases": dict(cases),
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "failures": failures,
        "rounds_done": rounds_done,
        "seconds": round(time.perf_counter() - started, 1),
    }
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(body, indent=1))
    partial.replace(path)
