"""Schemathesis over the whole OpenAPI document the app serves at test time - every operation,
including those added after this test was written: no 5xx, and every answer matches the schema.

Valid and invalid inputs both: invalid ones must be refused with a 4xx problem document, never
a 500. ``make test`` runs a short, repeatable pass (5 cases per operation and mode); ``make fuzz``
a long random one (``--fuzz-examples``), whose figures are in docs/RELIABILITY.md.
"""

from __future__ import annotations

from collections import Counter
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


@pytest.mark.slow
def test_no_operation_answers_5xx_or_off_schema(api_client: TestClient, shop_catalog: ShopCatalog) -> None:
    app = api_client.app  # lifespan already run: models and the shop catalog loaded
    assert isinstance(app, FastAPI)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    cases: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    failures: dict[str, str] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(operation, mode, cases, statuses)()
            except KeyboardInterrupt:
                raise
            except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
                continue
            except BaseException as exc:  # collect every operation's failure, then report them all
                failures[f"{operation.label} ({mode.value})"] = str(exc)[:2000]
    total = sum(cases.values())
    print(
        f"\nfuzz: {total} cases over {len(operations)} operations; statuses {dict(sorted(statuses.items()))}"
    )
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    assert not [s for s in statuses if s >= 500]
