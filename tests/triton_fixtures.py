"""One real Triton server per test session, serving a repository generated from the models.

Test modules load this with ``pytest_plugins = ["tests.triton_fixtures"]``. The server is the
``tritonserver`` bundled by nvidia-pytriton in ``.venv-triton`` (``make triton-venv``; set
LOOKALIKE_TRITON_VENV to use another). Without it the tests skip, unless
LOOKALIKE_REQUIRE_TRITON=1 (CI) turns the skip into a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lookalike.settings import Settings
from triton_repo import LocalTritonServer, Repository, RepositoryOptions, write_repository

ROOT = Path(__file__).resolve().parents[1]


def triton_venv() -> Path:
    venv = Path(os.environ.get("LOOKALIKE_TRITON_VENV") or ROOT / ".venv-triton")
    if not (venv / "bin" / "python").is_file():
        message = f"{venv} is missing: run `make triton-venv` (nvidia-pytriton's tritonserver)"
        if os.environ.get("LOOKALIKE_REQUIRE_TRITON") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return venv


@pytest.fixture(scope="session")
def triton_repository(tmp_path_factory: pytest.TempPathFactory) -> Repository:
    """The CPU repository: the configured detector and embedder in the Python backend."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("triton-data"))
    out = tmp_path_factory.mktemp("triton-repo")
    return write_repository(
        settings, out, RepositoryOptions(backend="python", device="cpu", intra_op_threads=1)
    )


@pytest.fixture(scope="session")
def triton_server(
    triton_repository: Repository, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalTritonServer]:
    venv = triton_venv()
    log = tmp_path_factory.mktemp("triton-log") / "tritonserver.log"
    # explicit model control, every model loaded at start: `bench sweep` may reload one with a new config
    server = LocalTritonServer(
        triton_repository.root, venv, log, extra_args=("--model-control-mode=explicit", "--load-model=*")
    ).start()
    try:
        yield server
    finally:
        server.stop()
