"""deploy/ stays deployable: the Kubernetes manifests validate offline against the API schemas
(kubernetes-validate ships them), kustomize lists every one, and the images copy every package."""

from __future__ import annotations

import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33.0"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_each_manifest_validates_against_the_kubernetes_schema(path: Path) -> None:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert documents
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_an_invalid_manifest_is_caught() -> None:
    bad = yaml.safe_load((K8S / "api-deployment.yaml").read_text())
    bad["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def test_kustomize_lists_every_manifest() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == [p.name for p in MANIFESTS]


def docs(kind: str) -> dict[str, dict]:  # type: ignore[type-arg]
    found = {}
    for path in MANIFESTS:
        for d in yaml.safe_load_all(path.read_text()):
            if d and d["kind"] == kind:
                found[d["metadata"]["name"]] = d
    return found


def test_the_api_is_probed_on_its_health_routes_and_triton_asks_for_a_gpu() -> None:
    deployments = docs("Deployment")
    api = deployments["lookalike-api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    triton = deployments["lookalike-triton"]["spec"]["template"]["spec"]["containers"][0]
    assert triton["resources"]["limits"]["nvidia.com/gpu"] == "1"
    config = docs("ConfigMap")["lookalike-config"]["data"]
    assert config["LOOKALIKE_EMBEDDER__SPEC"].startswith("triton+grpc://lookalike-triton:8001/")
    assert set(docs("HorizontalPodAutoscaler")) == {"lookalike-api", "lookalike-triton"}


def test_the_api_image_copies_every_package_of_the_wheel() -> None:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"][
        "wheel"
    ]["packages"]
    dockerfile = (ROOT / "deploy" / "docker" / "api.Dockerfile").read_text()
    copied = {line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")}
    assert set(packages) <= copied, f"not copied into the image: {sorted(set(packages) - copied)}"


def test_the_compose_file_wires_the_api_to_triton() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "docker" / "compose.yaml").read_text())
    api = compose["services"]["api"]
    assert api["environment"]["LOOKALIKE_DETECTOR__SPEC"] == "triton+grpc://triton:8001/detector"
    assert "triton" in api["depends_on"]
