"""lookalike bench sweep: choose Triton batch sizes and instance counts under a p95 budget."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.options import ConfigOpt, group
from lookalike.settings import load_settings

bench_app = group("Benchmarks that choose serving settings (Triton).")


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r}: expected comma-separated integers, e.g. 1,8,32") from exc
    if not values or min(values) < 1:
        raise typer.BadParameter(f"{text!r}: expected positive integers")
    return values


@bench_app.command("sweep")
def sweep_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for sweep.json, sweep.md and sweep.png.")],
    model: Annotated[
        str, typer.Option("--model", help="Model of the repository: embedder or detector.")
    ] = "embedder",
    batch_sizes: Annotated[str, typer.Option("--batch-sizes", help="Max batch sizes to try.")] = "1,8,32",
    instances: Annotated[str, typer.Option("--instances", help="Instance counts to try.")] = "1,2",
    concurrency: Annotated[
        str, typer.Option("--concurrency", help="Concurrent clients to drive.")
    ] = "1,4,16",
    budget_ms: Annotated[float, typer.Option("--budget-ms", min=1, help="p95 latency budget.")] = 100.0,
    duration_s: Annotated[float, typer.Option("--duration-s", min=0.5, help="Seconds per cell.")] = 4.0,
    write: Annotated[
        Path | None, typer.Option("--write", help="Repository whose config.pbtxt gets the chosen setting.")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url", help="host:port (gRPC) of a server in explicit model control; default: a local one."
        ),
    ] = None,
    repository: Annotated[
        Path | None, typer.Option("--repository", help="With --url: the repository that server serves.")
    ] = None,
    triton_venv: Annotated[Path, typer.Option("--triton-venv", help="The local server's venv.")] = Path(
        ".venv-triton"
    ),
    config: ConfigOpt = None,
) -> None:
    """Load each configuration (max batch size x instances) of one model, drive it at each
    concurrency, and report throughput and p95; the best throughput within the budget wins."""
    from bench.regions import cpu_model
    from bench.triton.sweep import save, sweep, write_choice
    from triton_repo import LocalTritonServer, RepositoryOptions, write_repository

    grid = dict(batch_sizes=_ints(batch_sizes), instances=_ints(instances), concurrency=_ints(concurrency))
    server = None
    if url is None:
        repository = out / "repository"
        write_repository(
            load_settings(config),
            repository,
            RepositoryOptions(backend="python", device="cpu", intra_op_threads=1),
        )
        server = LocalTritonServer(
            repository,
            triton_venv.resolve(),
            out / "tritonserver.log",
            extra_args=("--model-control-mode=explicit", f"--load-model={model}"),
        ).start()
        url = server.grpc_url
        where = f"{cpu_model()} (local CPU server)"
    elif repository is None:
        raise typer.BadParameter("--url needs --repository (the repository that server serves)")
    else:
        where = f"server {url}"
    try:
        result = sweep(url, repository, model, budget_ms=budget_ms, duration_s=duration_s, **grid)
    finally:
        if server is not None:
            server.stop()
    save(result, out, where)
    typer.echo(result.table())
    if result.chosen is None:
        typer.echo(f"no configuration kept p95 within {budget_ms:g} ms; nothing written", err=True)
        raise typer.Exit(1)
    c = result.chosen
    typer.echo(f"chosen: max batch {c.max_batch_size}, {c.instances} instance(s): {c.throughput:.1f} items/s")
    if write is not None:
        typer.echo(f"wrote {write_choice(write, model, c)}")
