"""The generated Triton repository: valid configs (parsed by Triton's own protobuf), the GPU
settings a fleet needs, and a README that says what it was made from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from lookalike.settings import EmbedderSettings, Settings
from lookalike.triton_client import TritonEndpoint, is_triton_spec
from triton_repo import ModelConfig, Repository, RepositoryOptions, Scheduling, TensorSpec, write_repository

pytest_plugins = ["tests.triton_fixtures"]


def parse(path: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


@pytest.fixture(scope="module")
def gpu_repository(tmp_path_factory: pytest.TempPathFactory) -> Repository:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"))
    return write_repository(settings, tmp_path_factory.mktemp("gpu-repo"), RepositoryOptions())


def test_the_gpu_repository_batches_on_the_gpu_through_tensorrt_fp16(gpu_repository: Repository) -> None:
    for name in ("detector", "embedder"):
        config = parse(gpu_repository.root / name / "config.pbtxt")
        assert config.backend == "onnxruntime"
        assert (gpu_repository.root / name / "1" / "model.onnx").is_file()
        assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
        assert config.dynamic_batching.max_queue_delay_microseconds > 0
        assert list(config.dynamic_batching.preferred_batch_size)
        accelerator = config.optimization.execution_accelerators.gpu_execution_accelerator[0]
        assert accelerator.name == "tensorrt" and accelerator.parameters["precision_mode"] == "FP16"
    detector = parse(gpu_repository.root / "detector" / "config.pbtxt")
    assert list(detector.input[0].dims) == [3, -1, -1], "any stride-multiple rectangle"
    embedder = parse(gpu_repository.root / "embedder" / "config.pbtxt")
    assert list(embedder.input[0].dims) == [3, 224, 224] and list(embedder.output[0].dims) == [1280]


def test_the_pipeline_takes_bytes_and_returns_regions_and_vectors(gpu_repository: Repository) -> None:
    config = parse(gpu_repository.root / "pipeline" / "config.pbtxt")
    assert config.backend == "python" and config.max_batch_size == 0
    assert [(i.name, i.data_type) for i in config.input] == [("IMAGE", model_config_pb2.TYPE_UINT8)]
    assert [o.name for o in config.output] == ["BOXES", "SCORES", "CLASSES", "VECTORS"]
    assert config.parameters["detector_model"].string_value == "detector"
    assert config.parameters["pair_classes"].string_value == "4", "garment-yolo's footwear: shoe pairs"
    assert (gpu_repository.root / "pipeline" / "1" / "model.py").is_file()


def test_the_readme_names_the_specs_and_checksums(gpu_repository: Repository) -> None:
    readme = (gpu_repository.root / "README.md").read_text()
    manifest = json.loads((gpu_repository.root / "lookalike.json").read_text())
    assert gpu_repository.detector.sha256 in readme and gpu_repository.embedder.sha256 in readme
    assert manifest["detector"]["spec"] == "garment-yolo"
    # the embedder the service runs by default, under its vector space's name (the weights' hash)
    assert manifest["embedder"]["spec"].startswith(EmbedderSettings().spec + "@")


def test_the_cpu_test_repository_runs_onnx_in_the_python_backend(triton_repository: Repository) -> None:
    config = parse(triton_repository.root / "embedder" / "config.pbtxt")
    assert config.backend == "python"
    assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    assert (triton_repository.root / "embedder" / "1" / "model.onnx").is_file()


def test_a_tensorrt_config_names_the_plan_and_a_static_model_is_not_batched() -> None:
    config = ModelConfig(
        "m",
        "tensorrt",
        [TensorSpec("x", "FP32", (3, 8, 8))],
        [TensorSpec("y", "FP32", (4,))],
        Scheduling(max_batch_size=8, preferred_batch_sizes=(4, 8), instances=2),
        device="gpu",
    )
    parsed = text_format.Parse(config.render(), model_config_pb2.ModelConfig())
    assert parsed.platform == "tensorrt_plan" and parsed.default_model_filename == "model.plan"
    assert parsed.instance_group[0].count == 2 and parsed.max_batch_size == 8
    chosen = Scheduling().with_choice(max_batch_size=4, instances=3)
    assert chosen.preferred_batch_sizes == (4,) and chosen.instances == 3


@pytest.mark.parametrize(
    ("spec", "url", "model", "version", "timeout"),
    [
        ("triton+grpc://gpu-1:8001/embedder", "gpu-1:8001", "embedder", "", 10.0),
        ("triton+http://gpu-1/detector?version=2&timeout_s=2.5", "gpu-1:8000", "detector", "2", 2.5),
        ("triton+grpc://gpu-1/detector", "gpu-1:8001", "detector", "", 10.0),
    ],
)
def test_triton_specs_parse(spec: str, url: str, model: str, version: str, timeout: float) -> None:
    endpoint = TritonEndpoint.parse(spec)
    assert is_triton_spec(spec)
    assert (endpoint.url, endpoint.model, endpoint.version, endpoint.timeout_s) == (
        url,
        model,
        version,
        timeout,
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("triton+grpc://gpu-1:8001/", "needs a host:port and one model name"),
        ("triton+grpc://gpu-1:8001/a/b", "needs a host:port and one model name"),
        ("triton+grpc://gpu-1:8001/a?retry=2", "unknown parameter"),
    ],
)
def test_bad_triton_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TritonEndpoint.parse(spec)


def test_the_export_verb_writes_a_repository_and_refuses_tensorrt_on_the_cpu(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    runner = CliRunner()
    env = {"LOOKALIKE_DATA_DIR": str(tmp_path / "var")}
    done = runner.invoke(
        app, ["export", "triton", "--out", str(tmp_path / "repo"), "--device", "cpu"], env=env
    )
    assert done.exit_code == 0, done.output
    assert "wrote detector, embedder, pipeline" in done.output
    cpu = parse(tmp_path / "repo" / "embedder" / "config.pbtxt")
    assert cpu.backend == "onnxruntime"
    assert cpu.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    refused = runner.invoke(
        app, ["export", "triton", "--out", str(tmp_path / "x"), "--device", "cpu", "--tensorrt"], env=env
    )
    assert refused.exit_code != 0 and "TensorRT" in refused.output


def test_in_process_tensorrt_builds_fp16_engines_cached_beside_the_model(tmp_path: Path) -> None:
    from lookalike.onnx_sessions import provider_options

    model = tmp_path / "embedder.onnx"
    trt, cuda, cpu = provider_options(
        ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"], model
    )
    assert trt == (
        "TensorrtExecutionProvider",
        {
            "trt_fp16_enable": True,
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(tmp_path / "tensorrt-engines"),
        },
    )
    assert (cuda, cpu) == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert provider_options(["CPUExecutionProvider"], model) == ["CPUExecutionProvider"]
