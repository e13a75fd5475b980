"""``lookalike serve``: a real uvicorn process built from the app factory, configured by a TOML file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cli.main import app

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


COMMANDS = [
    [],
    *(
        [verb]
        for verb in ("ingest", "serve", "eval", "check", "repair", "gc", "adapt", "index", "detector", "demo")
    ),
    *(["index", verb] for verb in ("list", "rollback", "gc", "compact", "delete", "update", "sync")),
    *(["detector", verb] for verb in ("make-dataset", "train", "evaluate")),
    *(["demo", verb] for verb in ("make-query", "ask")),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "lookalike")
def test_help_reads_like_a_manual(command: list[str]) -> None:
    """No developer markup (double backticks), no type on a flag, and every option names its value
    as a manual does (--catalog TEXT, --limit N), not by a Python type."""
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Usage:" in text and len(text.splitlines()) > 4
    assert "``" not in text and "<bool>" not in text, text
    options = [line for line in text.splitlines() if line.lstrip().startswith("-")]
    assert options and not [line for line in options if "<" in line.split("  ")[1]], text


def test_serve_refuses_a_missing_config_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2 and "does not exist" in result.output


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_runs_the_factory_with_settings_from_the_config_file(tmp_path: Path, workers: int) -> None:
    """/healthz answers while models load; /readyz shows every worker got the file's settings (its
    bogus embedder), handed over by the serve command itself: no LOOKALIKE_CONFIG in anyone's
    environment."""
    config = tmp_path / "lookalike.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[detector]\nspec = "none"\n[embedder]\nspec = "bogus:model"\n'
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKALIKE_")}
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "cli.main", "serve", "--config", str(config)),
            *("--port", str(port), "--workers", str(workers)),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90 * workers  # a busy shared machine: each worker imports the stack
        while True:
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert health.status_code == 200
        seen = 0
        while seen < 3 * workers:  # new connections: both workers answer some
            ready = httpx.get(f"{base}/readyz", timeout=5).json()
            if ready["checks"]["embedder"] != "loading":
                assert ready["status"] == "not ready"
                assert "unknown embedder spec 'bogus:model'" in ready["checks"]["embedder"]
                seen += 1
            assert time.monotonic() < deadline, ready
            time.sleep(0.1)
        assert (tmp_path / "data" / "lookalike.db").is_file()  # migrated before the worker started
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
