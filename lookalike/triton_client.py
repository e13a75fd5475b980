"""A model served by Triton Inference Server, called through ``tritonclient`` (gRPC or HTTP).

Specs name it as ``triton+grpc://host:8001/<model>`` or ``triton+http://host:8000/<model>``,
with optional query parameters ``version`` (default: the newest ready one), ``timeout_s``
(per call, default 10), ``retries`` (on UNAVAILABLE and refused connections, default 3,
with a short exponential back-off), ``wait_s`` (how long loading waits for the model to turn
ready, default 30) and ``shm_mb`` (inputs through system shared memory where client and server
share a host, default 0: off). A small pool of clients, one borrowed per call, lets
concurrent searches share connections without sharing a client object between threads.
The detector and the embedder stages wrap this (``detector/triton.py``, ``embedder/triton.py``).
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import numpy as np

from lookalike.errors import ModelServerError

TRITON_SCHEMES = ("triton+grpc", "triton+http")
NUMPY_TO_TRITON = {np.dtype(np.float32): "FP32", np.dtype(np.uint8): "UINT8", np.dtype(np.int32): "INT32"}


def is_triton_spec(spec: str) -> bool:
    return spec.strip().lower().startswith(TRITON_SCHEMES)


@dataclass(frozen=True)
class TritonEndpoint:
    protocol: Literal["grpc", "http"]
    url: str
    """host:port"""
    model: str
    version: str = ""
    timeout_s: float = 10.0
    retries: int = 3
    wait_s: float = 30.0
    """How long loading waits for the server and model to turn ready (a Triton pod starting)."""
    shm_mb: int = 0
    """Inputs through system shared memory of this many MiB per pooled client (client and server
    on one host, e.g. a sidecar); 0 = over the socket. Larger inputs still go over the socket."""

    @staticmethod
    def parse(spec: str) -> TritonEndpoint:
        parts = urlsplit(spec.strip())
        if parts.scheme.lower() not in TRITON_SCHEMES:
            raise ValueError(f"not a Triton spec: {spec!r} (triton+grpc://host:8001/<model>)")
        model = parts.path.strip("/")
        if not parts.netloc or not model or "/" in model:
            raise ValueError(
                f"Triton spec {spec!r} needs a host:port and one model name: triton+grpc://host:8001/<model>"
            )
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"version", "timeout_s", "retries", "wait_s", "shm_mb"}
        if unknown:
            raise ValueError(f"Triton spec {spec!r}: unknown parameter(s) {sorted(unknown)}")
        protocol: Literal["grpc", "http"] = "grpc" if parts.scheme.lower() == "triton+grpc" else "http"
        port = parts.port or (8001 if protocol == "grpc" else 8000)
        return TritonEndpoint(
            protocol,
            f"{parts.hostname}:{port}",
            model,
            query.get("version", ""),
            float(query.get("timeout_s", 10.0)),
            int(query.get("retries", 3)),
            float(query.get("wait_s", 30.0)),
            int(query.get("shm_mb", 0)),
        )

    def __str__(self) -> str:
        return f"triton+{self.protocol}://{self.url}/{self.model}"


def _unavailable(exc: BaseException) -> bool:
    """Worth a retry: the server is (re)starting, overloaded or the connection dropped."""
    status = str(getattr(exc, "status", lambda: "")() or "")
    text = f"{status} {exc}".upper()
    return any(s in text for s in ("UNAVAILABLE", "CONNECTION", "503", "REFUSED", "RESET", "DEADLINE"))


class TritonModel:
    """One model on one Triton server: its config parameters, version, readiness and ``infer``."""

    def __init__(
        self, endpoint: TritonEndpoint, pool_size: int = 4, wait_ready_s: float | None = None
    ) -> None:
        self.endpoint = endpoint
        self._pool: queue.LifoQueue[Any] = queue.LifoQueue()
        self._regions: dict[int, tuple[Any, str]] = {}
        """Per pooled client (by id): its registered shared-memory region and the region's name."""
        for _ in range(pool_size):
            self._pool.put(self._new_client())
        self._wait_ready(endpoint.wait_s if wait_ready_s is None else wait_ready_s)
        with self._client() as client:
            config = self._config(client)
        self.parameters: dict[str, str] = {
            k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()
        }
        self.max_batch_size = int(config.get("max_batch_size", 0))
        self.version = endpoint.version or self._ready_version()

    def _new_client(self) -> Any:
        e = self.endpoint
        if e.protocol == "grpc":
            import tritonclient.grpc as grpc

            return grpc.InferenceServerClient(e.url)
        import tritonclient.http as http

        return http.InferenceServerClient(e.url, connection_timeout=e.timeout_s, network_timeout=e.timeout_s)

    @contextlib.contextmanager
    def _client(self) -> Iterator[Any]:
        client = self._pool.get()
        try:
            yield client
        finally:
            self._pool.put(client)

    def _config(self, client: Any) -> dict[str, Any]:
        e = self.endpoint
        if e.protocol == "grpc":
            return dict(client.get_model_config(e.model, e.version, as_json=True)["config"])
        return dict(client.get_model_config(e.model, e.version))

    def _ready_version(self) -> str:
        with self._client() as client:
            index = client.get_model_repository_index(
                **({"as_json": True} if self.endpoint.protocol == "grpc" else {})
            )
        models = index.get("models", []) if isinstance(index, dict) else index
        versions = [
            int(m["version"])
            for m in models
            if m.get("name") == self.endpoint.model and m.get("state") == "READY" and m.get("version")
        ]
        return str(max(versions)) if versions else "1"

    def _wait_ready(self, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        reason = "not ready"
        while True:
            reason = self.ready()
            if reason == "ok":
                return
            if time.monotonic() >= deadline:
                raise ModelServerError(f"Triton model {self.endpoint}: {reason}")
            time.sleep(0.5)

    def ready(self) -> str:
        """ "ok", or why the server or the model cannot answer (for /readyz)."""
        e = self.endpoint
        try:
            with self._client() as client:
                if not client.is_server_ready():
                    return "server not ready"
                if not client.is_model_ready(e.model, e.version):
                    return f"model {e.model!r} not ready"
        except Exception as exc:
            return f"unreachable: {type(exc).__name__}: {exc}"
        return "ok"

    def infer(self, inputs: Mapping[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        """One inference call, retried (bounded) while the server is unavailable."""
        e = self.endpoint
        attempt = 0
        while True:
            try:
                with self._client() as client:
                    return self._infer_once(client, inputs, outputs)
            except Exception as exc:
                attempt += 1
                if not _unavailable(exc) or attempt > e.retries:
                    raise ModelServerError(
                        f"Triton model {e} failed after {attempt} attempt(s): {exc}"
                    ) from exc
                time.sleep(min(0.05 * 2**attempt, 1.0))

    def _infer_once(
        self, client: Any, inputs: Mapping[str, np.ndarray], outputs: list[str]
    ) -> dict[str, np.ndarray]:
        e = self.endpoint
        if e.protocol == "grpc":
            import tritonclient.grpc as lib
        else:
            import tritonclient.http as lib
        arrays = {name: np.ascontiguousarray(array) for name, array in inputs.items()}
        region = self._region(client) if sum(a.nbytes for a in arrays.values()) <= e.shm_mb << 20 else None
        tensors, offset = [], 0
        for name, array in arrays.items():
            tensor = lib.InferInput(name, list(array.shape), NUMPY_TO_TRITON[array.dtype])
            if region is not None:
                from tritonclient.utils import shared_memory

                handle, region_name = region
                shared_memory.set_shared_memory_region(handle, [array], offset=offset)
                tensor.set_shared_memory(region_name, array.nbytes, offset=offset)
                offset += array.nbytes
            else:
                tensor.set_data_from_numpy(array)
            tensors.append(tensor)
        requested = [lib.InferRequestedOutput(name) for name in outputs]
        if e.protocol == "grpc":
            result = client.infer(
                e.model, tensors, model_version=e.version, outputs=requested, client_timeout=e.timeout_s
            )
        else:
            result = client.infer(e.model, tensors, model_version=e.version, outputs=requested)
        return {name: result.as_numpy(name) for name in outputs}

    def _region(self, client: Any) -> tuple[Any, str] | None:
        """This client's shared-memory region, created and registered on first use (shm_mb > 0)."""
        if self.endpoint.shm_mb <= 0:
            return None
        if id(client) not in self._regions:
            import os

            from tritonclient.utils import shared_memory

            name = f"lookalike-{os.getpid()}-{id(client):x}"
            size = self.endpoint.shm_mb << 20
            handle = shared_memory.create_shared_memory_region(name, f"/{name}", size)
            client.register_system_shared_memory(name, f"/{name}", size)
            self._regions[id(client)] = (handle, name)
        return self._regions[id(client)]

    def close(self) -> None:
        """Unregister and free the shared-memory regions, close the connections."""
        from tritonclient.utils import shared_memory

        while not self._pool.empty():
            client = self._pool.get_nowait()
            region = self._regions.pop(id(client), None)
            with contextlib.suppress(Exception):
                if region is not None:
                    client.unregister_system_shared_memory(region[1])
                    shared_memory.destroy_shared_memory_region(region[0])
                client.close()
