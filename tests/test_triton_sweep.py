"""lookalike bench sweep against the real server: every cell measured, a choice within the
budget, the choice written into the repository's config, the table and plot saved."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.triton.sweep import read_config
from cli.main import app
from triton_repo import LocalTritonServer, Repository

pytest_plugins = ["tests.triton_fixtures"]
pytestmark = pytest.mark.triton


def test_the_sweep_measures_each_cell_and_writes_the_choice_back(
    triton_server: LocalTritonServer, triton_repository: Repository, tmp_path: Path
) -> None:
    target = tmp_path / "repo"
    shutil.copytree(triton_repository.root, target)
    args = ["bench", "sweep", "--out", str(tmp_path / "sweep"), "--model", "embedder"]
    args += ["--batch-sizes", "1,4", "--instances", "1", "--concurrency", "1,3", "--duration-s", "0.5"]
    args += [
        "--budget-ms",
        "10000",
        "--url",
        triton_server.grpc_url,
        "--repository",
        str(triton_repository.root),
    ]
    try:
        done = CliRunner().invoke(app, [*args, "--write", str(target)])
    finally:
        import tritonclient.grpc as grpc

        grpc.InferenceServerClient(triton_server.grpc_url).load_model("embedder")  # the files' config again
    assert done.exit_code == 0, done.output
    result = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    cells = {(c["max_batch_size"], c["instances"], c["concurrency"]) for c in result["cells"]}
    assert cells == {(1, 1, 1), (1, 1, 3), (4, 1, 1), (4, 1, 3)}
    assert all(c["requests"] > 0 and c["p95_ms"] >= c["p50_ms"] > 0 for c in result["cells"])
    chosen = result["chosen"]
    assert chosen["throughput"] == max(c["throughput"] for c in result["cells"])
    written = read_config(target, "embedder")
    assert (written.max_batch_size, written.instance_group[0].count) == (chosen["max_batch_size"], 1)
    assert (tmp_path / "sweep" / "sweep.png").stat().st_size > 0
    assert "| max batch |" in (tmp_path / "sweep" / "sweep.md").read_text()


def test_a_budget_nothing_meets_writes_nothing(
    triton_server: LocalTritonServer, triton_repository: Repository, tmp_path: Path
) -> None:
    args = ["bench", "sweep", "--out", str(tmp_path), "--batch-sizes", "1", "--instances", "1"]
    args += ["--concurrency", "1", "--duration-s", "0.5", "--budget-ms", "1"]
    args += ["--url", triton_server.grpc_url, "--repository", str(triton_repository.root)]
    done = CliRunner().invoke(app, [*args, "--write", str(tmp_path / "nothing")])
    assert done.exit_code == 1 and "nothing written" in done.output
