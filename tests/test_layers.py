"""The import graph keeps its layers: ground <- stages <- service <- api/evaluation/bench <- cli.

Every ``import`` in the project's packages is read with ``ast`` (imports inside functions too: a
lazy import is still a dependency), and each rule below names what a package may not import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

GROUND = {"lookalike"}
STAGES = {"detector", "embedder", "index", "catalog", "catalog_ingest", "understanding", "jobs", "tenancy"}
WIRING = {"service", "triton_repo", "on_ray"}
ABOVE = {"api", "evaluation", "bench", "web", "quantize", "on_ray_serve"}
TOP = {"cli"}
PACKAGES = GROUND | STAGES | WIRING | ABOVE | TOP

RULES: list[tuple[set[str], set[str], str]] = [
    (GROUND, STAGES | WIRING | ABOVE | TOP, "the shared ground imports no stage and nothing above"),
    (STAGES, WIRING | ABOVE | TOP, "no stage imports the wiring (service) or anything above it"),
    ({"index"}, {"catalog_ingest", "catalog"}, "index does not import catalog_ingest nor catalog"),
    ({"catalog"}, STAGES - {"catalog"}, "the catalog rows stand on the ground alone"),
    ({"detector", "embedder"}, STAGES - {"detector", "embedder"}, "the models stand on the ground alone"),
    ({"understanding"}, STAGES - {"understanding"}, "understanding stands on the ground alone"),
    ({"tenancy"}, STAGES - {"tenancy", "catalog"}, "tenancy stands on the catalog rows alone"),
    ({"detector"}, {"evaluation"}, "the detector does not import evaluation"),
    ({"jobs"}, STAGES - {"jobs", "catalog"}, "the job queue stands on the ground and the catalog's database"),
    (WIRING, ABOVE | TOP, "the wiring imports nothing above it"),
    (ABOVE, TOP, "nothing imports the CLI"),
]


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, top-level module) of every absolute import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def violations(root: Path = ROOT) -> list[str]:
    found = []
    for package in sorted(PACKAGES):
        for path in sorted((root / package).rglob("*.py")):
            for line, module in imports(path):
                for importers, forbidden, rule in RULES:
                    if package in importers and module in forbidden and module != package:
                        found.append(f"{path.relative_to(root)}:{line}: {package} imports {module}: {rule}")
    return found


def test_every_package_is_checked() -> None:
    on_disk = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert on_disk == PACKAGES, f"a new top-level package needs a layer here: {sorted(on_disk ^ PACKAGES)}"


def test_no_package_imports_against_the_layers() -> None:
    found = violations()
    assert not found, "imports against the layers:\n" + "\n".join(found)


def test_a_violation_is_reported_with_file_line_and_rule(tmp_path: Path) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "index" / "bad.py").write_text("def f():\n    from catalog_ingest import publish\n")
    (tmp_path / "lookalike" / "bad.py").write_text("import service.runtime\n")
    assert violations(tmp_path) == [
        "index/bad.py:2: index imports catalog_ingest: index does not import catalog_ingest nor catalog",
        "lookalike/bad.py:1: lookalike imports service: the shared ground imports no stage and nothing above",
    ]


@pytest.mark.parametrize("package", sorted(GROUND))
def test_importing_the_ground_touches_no_environment_variable(package: str) -> None:
    """``import lookalike`` used to set OMP_NUM_THREADS; nothing in the ground writes the environment."""
    import os
    import subprocess
    import sys

    code = (
        "import os, json; before = dict(os.environ)\n"
        f"import {package}, {package}.execution, {package}.settings, {package}.onnx_sessions\n"
        f"{package}.settings.load_settings()\n"
        "print(json.dumps(sorted(set(os.environ.items()) ^ set(before.items()))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
