"""lookalike export triton: write a Triton model repository from the configured models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from cli.options import ConfigOpt, group
from lookalike.settings import load_settings

export_app = group("Export the configured models for other servers (Triton Inference Server).")


@export_app.command("triton")
def export_triton(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the model repository into.")],
    config: ConfigOpt = None,
    device: Annotated[
        str, typer.Option("--device", help="gpu (KIND_GPU instances, TensorRT FP16 accelerator) or cpu.")
    ] = "gpu",
    tensorrt: Annotated[
        bool, typer.Option("--tensorrt", help="TensorRT FP16 plans instead of ONNX (on a GPU machine only).")
    ] = False,
    python_backend: Annotated[
        bool,
        typer.Option(
            "--python-backend",
            help="Run the ONNX files with ONNX Runtime inside Triton's Python backend (for servers "
            "without the onnxruntime backend, such as nvidia-pytriton's, used by the tests).",
        ),
    ] = False,
    fp32: Annotated[bool, typer.Option("--fp32", help="Keep fp32 on the GPU (no FP16 engines).")] = False,
    instances: Annotated[int, typer.Option("--instances", min=1, help="Instances per model.")] = 1,
    max_batch_size: Annotated[int, typer.Option("--max-batch-size", min=1, help="Embedder max batch.")] = 32,
) -> None:
    """Write DIR/<model>/config.pbtxt and DIR/<model>/1/ for the detector, the embedder and the
    one-call pipeline (bytes in, regions and vectors out), with a README of specs and checksums."""
    from triton_repo import RepositoryOptions, Scheduling, write_repository

    if device not in ("gpu", "cpu"):
        raise typer.BadParameter("--device is gpu or cpu")
    if tensorrt and (python_backend or device != "gpu"):
        raise typer.BadParameter("--tensorrt plans run on the GPU with Triton's TensorRT backend")
    backend: Literal["onnxruntime", "python", "tensorrt"] = (
        "tensorrt" if tensorrt else "python" if python_backend else "onnxruntime"
    )
    scheduling = Scheduling().with_choice(max_batch_size, instances)
    options = RepositoryOptions(
        backend=backend,
        device="gpu" if device == "gpu" else "cpu",
        fp16=not fp32,
        detector=Scheduling(16, (4, 8), instances=instances),
        embedder=scheduling,
    )
    try:
        repo = write_repository(load_settings(config), out, options)
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"wrote {', '.join(sorted(repo.models))} to {repo.root} ({backend}, {device}); see its README.md"
    )
