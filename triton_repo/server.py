"""Run a real ``tritonserver`` on this machine from the nvidia-pytriton wheel (tests, benchmarks).

The wheel bundles the server binary and its Python backend (no ONNX Runtime or TensorRT
backend: the CPU repository serves the ONNX files through ``models/onnx_runner.py``). It lives
in its own virtualenv, ``.venv-triton`` (``make triton-venv``), because pytriton pins numpy<2.
Two snags handled here: the backend stub is copied in for this interpreter's version, and it
links the interpreter's ``libpython`` (else "'_thread.RLock' object has no attribute
'_recursion_count'").
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class TritonServerError(RuntimeError):
    """The local server could not be set up or did not become ready."""


@dataclass(frozen=True)
class ServerLayout:
    binary: Path
    backends: Path
    libs: list[Path]
    venv_bin: Path


def layout(venv: Path) -> ServerLayout:
    """The server's files in ``venv``, assembled once into ``<venv>/tritonserver-local``."""
    candidates = sorted(venv.glob("lib/python3.*/site-packages/pytriton/tritonserver"))
    if not candidates:
        raise TritonServerError(f"no nvidia-pytriton in {venv}: run `make triton-venv`")
    bundled = candidates[0]
    site = bundled.parent.parent
    python_version = site.parent.name.removeprefix("python")
    root = venv / "tritonserver-local"
    stub = root / "backends" / "python" / "triton_python_backend_stub"
    if not stub.is_file():
        tmp = venv / "tritonserver-local.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        for part in ("bin", "backends", "caches"):
            if (bundled / part).is_dir():
                shutil.copytree(bundled / part, tmp / part)
        shutil.copy2(
            bundled / "python_backend_stubs" / python_version / "triton_python_backend_stub",
            tmp / "backends" / "python" / "triton_python_backend_stub",
        )
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
    libdir = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    libs = [p for p in (site / "nvidia_pytriton.libs", Path(libdir)) if p.is_dir()]
    return ServerLayout(root / "bin" / "tritonserver", root / "backends", libs, venv / "bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalTritonServer:
    """A ``tritonserver`` child process on free local ports; ``stop()`` ends it."""

    repository: Path
    venv: Path
    log_path: Path
    http_port: int = 0
    grpc_port: int = 0
    metrics_port: int = 0
    extra_args: tuple[str, ...] = ()
    """More tritonserver flags, e.g. ``--model-control-mode=explicit`` for ``bench sweep``."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    def start(self, timeout_s: float = 120.0, attempts: int = 3) -> LocalTritonServer:
        """Start and wait until ready. Free ports are picked here; should another process take one
        before the server binds it, the server exits and is started again on new ports."""
        files = layout(self.venv)
        given = (self.http_port, self.grpc_port, self.metrics_port)
        pick = not any(given)
        for attempt in range(1, attempts + 1):
            self.http_port, self.grpc_port, self.metrics_port = (port or free_port() for port in given)
            self._launch(files)
            try:
                self._wait_ready(timeout_s)
                return self
            except TritonServerError as exc:
                bind_failed = (
                    "address already in use" in str(exc).lower() or "failed to start" in str(exc).lower()
                )
                if not (pick and bind_failed and attempt < attempts):
                    raise
        raise AssertionError("unreachable")

    def _launch(self, files: ServerLayout) -> None:
        env_args = [
            f"LD_LIBRARY_PATH={':'.join(str(p) for p in files.libs)}",
            # the Python backend stub finds its interpreter's packages through the venv's bin on PATH
            f"PATH={files.venv_bin}:/usr/local/bin:/usr/bin:/bin",
        ]
        command = [
            "env", *env_args, str(files.binary),
            f"--model-repository={self.repository}",
            f"--backend-directory={files.backends}",
            "--http-address=127.0.0.1", "--grpc-address=127.0.0.1", "--metrics-address=127.0.0.1",
            f"--http-port={self.http_port}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-port={self.metrics_port}",
            "--allow-gpu-metrics=false", "--exit-timeout-secs=5", "--log-verbose=0",
            *self.extra_args,
        ]  # fmt: skip
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def _wait_ready(self, timeout_s: float) -> None:
        import tritonclient.http as http

        deadline = time.monotonic() + timeout_s
        client = http.InferenceServerClient(self.http_url, connection_timeout=2.0, network_timeout=2.0)
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise TritonServerError(
                    f"tritonserver exited ({self.process.returncode}):\n{self.log_tail()}"
                )
            with contextlib.suppress(Exception):
                if client.is_server_ready():
                    return
            time.sleep(0.25)
        self.stop()
        raise TritonServerError(f"tritonserver not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.is_file():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@contextlib.contextmanager
def running(repository: Path, venv: Path, log_path: Path) -> Iterator[LocalTritonServer]:
    server = LocalTritonServer(repository, venv, log_path).start()
    try:
        yield server
    finally:
        server.stop()
