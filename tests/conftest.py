"""Shared fixtures: the shared data folder, one CPU embedder per session, runtimes, PostgreSQL."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from embedder import Embedder, load_embedder
from lookalike import onnx_sessions
from lookalike.cpu_features import BF16_FLAGS, CpuFeatures, this_cpu
from lookalike.model_runtime import RuntimeChoice, RuntimeRequest, choose_runtime
from lookalike.settings import (
    DetectorSettings,
    EmbedderSettings,
    SafetySettings,
    Settings,
    default_export_dir,
)
from service.runtime import Runtime

# -- the CPU ----------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def fp32_on_every_host() -> Iterator[None]:
    """``auto`` picks bf16 on a CPU that has it, and an int8 copy someone made with ``lookalike
    quantize`` in the machine's export cache; tests compare models with fp32 references (torch,
    ultralytics): the suite sees every CI host as one without bf16, and ignores int8 copies in the
    user's cache (tests of int8 make their own, in their own export_dir), and takes the rules' choice
    without timing the candidates (so no test's engine depends on the machine's load). bf16
    selection is tested with explicit CPU flags (test_model_runtime), measuring in
    test_runtime_trial, bf16 runs where the host has it."""
    real = this_cpu()

    def rules_without_personal_int8(
        request: RuntimeRequest, *args: Any, **kwargs: Any
    ) -> list[RuntimeChoice]:
        if request.export_dir == default_export_dir():
            request = replace(request, auto_int8=False)
        return [choose_runtime(request, *args, **kwargs)]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(onnx_sessions, "this_cpu", lambda: CpuFeatures(real.model, real.flags - BF16_FLAGS))
        patch.setattr(onnx_sessions, "auto_candidates", rules_without_personal_int8)
        yield


# -- options ---------------------------------------------------------------------------------

FUZZ_PROFILE = "lookalike-fuzz"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz-examples",
        type=int,
        default=0,
        help="Schemathesis cases per API operation (tests/test_fuzz_api.py); 0: the short run of make test.",
    )
    parser.addoption(
        "--fuzz-shard",
        default="1/1",
        help="K/N: fuzz only every N-th (operation, mode) pair from the K-th (parallel runs: bench.fuzz).",
    )
    parser.addoption(
        "--fuzz-rounds",
        type=int,
        default=1,
        help="Split --fuzz-examples into this many passes over every operation (a run cut short "
        "still covered every operation).",
    )
    parser.addoption(
        "--fuzz-report",
        default="",
        help="Write the fuzz run's counts to this JSON file (bench.fuzz reads it).",
    )


def pytest_configure(config: pytest.Config) -> None:
    """The fuzz profile: short and repeatable in make test, long and random with --fuzz-examples."""
    from hypothesis import HealthCheck, Phase, settings

    examples = int(config.getoption("--fuzz-examples") or 0)
    rounds = max(1, int(config.getoption("--fuzz-rounds") or 1))
    settings.register_profile(
        FUZZ_PROFILE,
        max_examples=max(1, examples // rounds) if examples else 5,
        derandomize=not examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        # the long run reports a failing case as found: shrinking one took longer than 2,000 cases
        phases=[Phase.explicit, Phase.generate] if examples else list(Phase),
    )


# -- data -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout (or LOOKALIKE_SHARED_DIR)."""
    path = Path(
        os.environ.get("LOOKALIKE_SHARED_DIR") or Path(__file__).resolve().parents[1].parent / "shared"
    )
    if not (path / "data").is_dir():
        pytest.skip(f"shared data folder {path} is missing")
    return path


@pytest.fixture(scope="session")
def clothing_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "clothing"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Records (and refuses) any attempt to resolve or connect: models must load offline."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


# -- models and runtimes ------------------------------------------------------------------

CPU_EMBEDDER = EmbedderSettings(spec="torchvision:mobilenet_v2", device="cpu", batch_size=16)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """MobileNetV2, loaded once per test session (a few seconds). Pinned, not the default
    (``product_tuned``): the tests that use it are about the pipeline, not the model; the default
    embedder has tests of its own (``test_embedder.py``, ``test_ingest.py``, the Triton tests)."""
    return load_embedder(CPU_EMBEDDER)


@dataclass
class SharedModelRuntime(Runtime):
    """A Runtime that borrows the session's embedder (loaded on first use) when its settings match."""

    shared_embedder: Callable[[], Embedder] | None = None

    @cached_property
    def embedder(self) -> Embedder:
        if self.shared_embedder is not None and self.settings.embedder == CPU_EMBEDDER:
            return self.shared_embedder()
        return super().embedder


RuntimeFactory = Callable[..., Runtime]

TEST_DEFAULTS: dict[str, Any] = {
    "embedder": CPU_EMBEDDER,
    "detector": DetectorSettings(spec="none"),
    "safety": SafetySettings(rules=[]),  # the upload gate has tests of its own (test_safety_gate.py)
}


@pytest.fixture
def make_runtime(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> RuntimeFactory:
    """Fresh runtimes (own data_dir, own SQLite file unless database_url is given) sharing the embedder.

    Keyword arguments are ``Settings`` fields; the detector defaults to 'none' (whole photo).
    Tests that never embed never load the model.
    """

    def make(**overrides: Any) -> Runtime:
        values = {"data_dir": tmp_path_factory.mktemp("runtime"), **TEST_DEFAULTS, **overrides}
        return SharedModelRuntime(
            Settings(**values), shared_embedder=lambda: request.getfixturevalue("embedder")
        )

    return make


@pytest.fixture(scope="session")
def runtime(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Runtime:
    """One runtime for the whole session (SQLite in a temp folder, whole-image detector)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("session-runtime"), **TEST_DEFAULTS)
    return SharedModelRuntime(settings, shared_embedder=lambda: request.getfixturevalue("embedder"))


# -- PostgreSQL -------------------------------------------------------------------------

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def new_pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database on the local server, dropped on exit.

    The server is the local one (LOOKALIKE_TEST_PG_ADMIN_URL overrides the admin URL);
    tests using this are skipped, saying why, only when it cannot be reached.
    """
    psycopg = pytest.importorskip("psycopg")
    admin_url = os.environ.get("LOOKALIKE_TEST_PG_ADMIN_URL", PG_ADMIN_URL)
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at {admin_url} is unreachable: {exc}")
    name = f"lookalike_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        host = admin.info.host
        port = admin.info.port
        user = admin.info.user
        try:
            yield f"postgresql+psycopg://{user}@{host}:{port}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (tests share it), dropped at the end."""
    with new_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database no other test has touched, for tests of the migrations themselves."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    with new_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on a real SQLite file and on the real local PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return str(request.getfixturevalue("pg_url"))
