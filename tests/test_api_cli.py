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
from typer.testing import CliRunner

from cli.main import app

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_refuses_a_missing_config_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_serve_runs_the_factory_with_settings_from_the_config_file(tmp_path: Path) -> None:
    """/healthz answers while models load; /readyz shows the worker read the file (its bogus embedder)."""
    config = tmp_path / "lookalike.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[detector]\nspec = "none"\n[embedder]\nspec = "bogus:model"\n'
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKALIKE_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--config", str(config), "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert health.status_code == 200
        while True:
            ready = httpx.get(f"{base}/readyz", timeout=5).json()
            if ready["checks"]["embedder"] != "loading" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert ready["status"] == "not ready"
        assert "unknown embedder spec 'bogus:model'" in ready["checks"]["embedder"]
        assert (tmp_path / "data" / "lookalike.db").is_file()  # migrated before the worker started
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
