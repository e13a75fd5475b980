"""Model-Analyzer-style sweep: max batch size x instances x concurrency -> throughput at a p95 budget.

For one model of a Triton repository, each (max batch size, instances) configuration is loaded
into a running server (explicit model control, the config sent with the load request), then
driven by closed-loop clients at each concurrency for ``duration_s``, one item per request, so
only the server's dynamic batcher forms batches. The configuration with the best throughput
whose p95 stays within the budget wins; ``write_choice`` puts it into the repository's
``config.pbtxt``. ``lookalike bench sweep`` is the command.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Cell:
    max_batch_size: int
    instances: int
    concurrency: int
    throughput: float
    """Requests (items) per second."""
    p50_ms: float
    p95_ms: float
    requests: int


@dataclass(frozen=True)
class SweepResult:
    model: str
    budget_ms: float
    cells: list[Cell]
    chosen: Cell | None

    def table(self) -> str:
        rows = [
            "| max batch | instances | clients | items/s | p50 ms | p95 ms | within budget |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | :---: |",
        ]
        for c in self.cells:
            mark = "**chosen**" if c == self.chosen else ("yes" if c.p95_ms <= self.budget_ms else "no")
            rows.append(
                f"| {c.max_batch_size} | {c.instances} | {c.concurrency} | {c.throughput:.1f} | "
                f"{c.p50_ms:.1f} | {c.p95_ms:.1f} | {mark} |"
            )
        return "\n".join(rows) + "\n"


def read_config(repository: Path, model: str) -> Any:
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse(
        (repository / model / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()
    )


def configured(config: Any, max_batch_size: int, instances: int) -> Any:
    """A copy of ``config`` with this batch size (preferred sizes capped to it) and instance count."""
    out = type(config)()
    out.CopyFrom(config)
    out.max_batch_size = max_batch_size
    preferred = [b for b in out.dynamic_batching.preferred_batch_size if b <= max_batch_size]
    del out.dynamic_batching.preferred_batch_size[:]
    out.dynamic_batching.preferred_batch_size.extend(preferred or [max_batch_size])
    out.instance_group[0].count = instances
    return out


def sample_input(config: Any) -> tuple[str, np.ndarray]:
    """One item for the model's first input: variable sides at the detector's usual phone rectangle."""
    spec = config.input[0]
    imgsz = int(config.parameters["imgsz"].string_value) if "imgsz" in config.parameters else 320
    dims = [d if d > 0 else (imgsz if i == 1 else imgsz // 2) for i, d in enumerate(spec.dims)]
    rng = np.random.default_rng(0)
    return spec.name, rng.random((1, *dims), dtype=np.float32)


def drive(
    url: str, model: str, name: str, item: np.ndarray, output: str, concurrency: int, duration_s: float
) -> list[float]:
    """Closed loop: ``concurrency`` clients, each sends its next request when the last returns."""
    import tritonclient.grpc as grpc

    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + duration_s

    def client() -> None:
        c = grpc.InferenceServerClient(url)
        tensor = grpc.InferInput(name, list(item.shape), "FP32")
        tensor.set_data_from_numpy(item)
        wanted = [grpc.InferRequestedOutput(output)]
        mine = []
        while time.monotonic() < stop:
            start = time.perf_counter()
            c.infer(model, [tensor], outputs=wanted)
            mine.append((time.perf_counter() - start) * 1000)
        c.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def sweep(
    url: str,
    repository: Path,
    model: str,
    *,
    batch_sizes: Sequence[int],
    instances: Sequence[int],
    concurrency: Sequence[int],
    budget_ms: float = 100.0,
    duration_s: float = 4.0,
) -> SweepResult:
    import tritonclient.grpc as grpc
    from google.protobuf import json_format

    base = read_config(repository, model)
    name, item = sample_input(base)
    output = base.output[0].name
    admin = grpc.InferenceServerClient(url)
    cells = []
    for b in batch_sizes:
        for n in instances:
            config = configured(base, b, n)
            admin.load_model(model, config=json_format.MessageToJson(config))
            drive(url, model, name, item, output, 1, 0.5)  # warm-up
            for c in concurrency:
                lat = drive(url, model, name, item, output, c, duration_s)
                cells.append(
                    Cell(
                        b,
                        n,
                        c,
                        len(lat) / duration_s,
                        float(np.percentile(lat, 50)),
                        float(np.percentile(lat, 95)),
                        len(lat),
                    )
                )
    admin.close()
    within = [c for c in cells if c.p95_ms <= budget_ms]
    chosen = max(within, key=lambda c: (c.throughput, -c.p95_ms)) if within else None
    return SweepResult(model, budget_ms, cells, chosen)


def write_choice(repository: Path, model: str, chosen: Cell) -> Path:
    """Rewrite ``<model>/config.pbtxt`` with the chosen max batch size and instance count."""
    from google.protobuf import text_format

    config = configured(read_config(repository, model), chosen.max_batch_size, chosen.instances)
    path = repository / model / "config.pbtxt"
    path.write_text(
        f"# lookalike bench sweep chose max_batch_size {chosen.max_batch_size}, "
        f"{chosen.instances} instance(s): {chosen.throughput:.1f} items/s "
        f"at p95 {chosen.p95_ms:.1f} ms with {chosen.concurrency} clients\n"
        + text_format.MessageToString(config)
    )
    return path


def save(result: SweepResult, out: Path, cpu: str) -> None:
    """``sweep.json``, ``sweep.md`` and ``sweep.png`` (throughput against p95, one line per config)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": result.model,
        "budget_ms": result.budget_ms,
        "cpu": cpu,
        "cells": [asdict(c) for c in result.cells],
        "chosen": asdict(result.chosen) if result.chosen else None,
    }
    (out / "sweep.json").write_text(json.dumps(payload, indent=2) + "\n")
    (out / "sweep.md").write_text(
        f"Sweep of `{result.model}` on {cpu}, p95 budget {result.budget_ms:g} ms\n\n" + result.table()
    )
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key in sorted({(c.max_batch_size, c.instances) for c in result.cells}):
        cells = [c for c in result.cells if (c.max_batch_size, c.instances) == key]
        ax.plot(
            [c.p95_ms for c in cells],
            [c.throughput for c in cells],
            marker="o",
            label=f"batch {key[0]}, {key[1]} inst.",
        )
        for c in cells:
            ax.annotate(str(c.concurrency), (c.p95_ms, c.throughput), fontsize=7)
    ax.axvline(result.budget_ms, color="grey", linestyle="--", label="p95 budget")
    ax.set_xlabel("p95 latency (ms); labels: concurrent clients")
    ax.set_ylabel("items / s")
    ax.set_title(f"{result.model}: throughput at p95 ({cpu})", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "sweep.png", dpi=110)
    plt.close(fig)
