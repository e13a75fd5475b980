"""SIGKILL ``lookalike ingest`` at random points - several times inside publish - then run it to
the end: ``lookalike check`` reports a clean catalog with exactly the items of the manifest.

Each round loads a manifest a few items longer than the last, so every round has new photos to
embed and an index to publish, and the kills land in every stage: model loading, fetching,
embedding, the row writes, and publish (killed while it waits inside its temporary folder's first write).
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from catalog import CatalogStore
from catalog_ingest.audit import check
from index import IndexStore
from tests.images import CLOTHING_IMAGES, clothing_photos

ROUNDS = 10
PER_ROUND = 3
ROOT = Path(__file__).resolve().parents[1]


def write_manifest(path: Path, photos: list[Path]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["item_id", "image", "title", "price"])
        for i, photo in enumerate(photos):
            writer.writerow([f"item-{i:03d}", photo.name, f"Item {i}", 5 + i])
    return path


# Runs `lookalike ingest` with faiss.write_index wrapped: the first write into a publish folder
# touches the marker file (argv[1]) and waits to be killed, so a kill lands inside publish every
# time instead of whenever a poll happens to catch the folder.
PAUSE_IN_PUBLISH = """
import pathlib, sys, time
import faiss
marker, write_index = pathlib.Path(sys.argv[1]), faiss.write_index
def paused(index, path):
    if pathlib.Path(path).parent.name.startswith(".publish-"):
        marker.touch()
        time.sleep(600)
    return write_index(index, path)
faiss.write_index = paused
sys.argv = ["lookalike", *sys.argv[2:]]
from cli.main import app
app()
"""


def start_ingest(manifest: Path, data_dir: Path, pause_marker: Path | None = None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LOOKALIKE_DATA_DIR": str(data_dir),
        "LOOKALIKE_DETECTOR__SPEC": "none",
        "LOOKALIKE_EMBEDDER__DEVICE": "cpu",
        "PYTHONPATH": str(ROOT),
    }
    arguments = ["ingest", str(manifest), "--catalog", "shop"]
    arguments += ["--images-root", str(CLOTHING_IMAGES), "--no-progress"]
    if pause_marker is None:
        command = [sys.executable, "-m", "cli.main", *arguments]
    else:
        command = [sys.executable, "-c", PAUSE_IN_PUBLISH, str(pause_marker), *arguments]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def kill_inside_publish(
    proc: subprocess.Popen[bytes], marker: Path, catalog_dir: Path, timeout_s: float
) -> bool:
    """SIGKILL once the process waits inside publish (its marker exists); False if it ended first."""
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        if marker.exists():
            assert any(p.name.startswith(f".publish-{proc.pid}-") for p in catalog_dir.iterdir())
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_random_sigkills_of_ingest_leave_a_clean_exact_catalog(tmp_path: Path) -> None:
    rng = random.Random(16)
    photos = clothing_photos(ROUNDS * PER_ROUND)
    data_dir = tmp_path / "data"
    catalog_dir = data_dir / "indexes" / "shop"
    kills = {"publish": 0, "random": 0}
    for round_ in range(ROUNDS):
        manifest = write_manifest(tmp_path / f"feed-{round_}.csv", photos[: (round_ + 1) * PER_ROUND])
        if round_ % 2 == 0:
            marker = tmp_path / f"in-publish-{round_}"
            proc = start_ingest(manifest, data_dir, pause_marker=marker)
            if kill_inside_publish(proc, marker, catalog_dir, timeout_s=300):
                kills["publish"] += 1
        else:
            proc = start_ingest(manifest, data_dir)
            time.sleep(rng.uniform(1.0, 12.0))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills["random"] += 1
        proc.wait()
    assert kills["publish"] >= 3, kills  # several kills really landed inside publish

    final = start_ingest(manifest, data_dir)
    output = final.communicate(timeout=600)[0].decode()
    assert final.returncode == 0, output

    store = CatalogStore(f"sqlite:///{data_dir / 'lookalike.db'}")
    try:
        audit = check(store, IndexStore(data_dir / "indexes"), keep=ROUNDS)
        assert audit.clean, audit.findings
        assert audit.items == {"shop": ROUNDS * PER_ROUND}
        assert sorted(store.item_records("shop")) == [f"item-{i:03d}" for i in range(ROUNDS * PER_ROUND)]
    finally:
        store.close()
    assert not [p for p in catalog_dir.iterdir() if p.name.startswith(".publish-")]
