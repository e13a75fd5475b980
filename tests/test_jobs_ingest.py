"""Catalog loads as background jobs: through the queue, cancelled, resumed, and over HTTP."""

from __future__ import annotations

import csv
import time
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from catalog_ingest.datasets.clothing import write_clothing_manifest
from jobs import Job, JobContext, JobQueue, JobState, Outcome
from lookalike.settings import JobsSettings
from service.jobs import INGEST, ingest_handler, ingest_params, job_queue, job_runner
from service.runtime import Runtime
from tests.conftest import RuntimeFactory
from tests.images import CLOTHING, CLOTHING_IMAGES, clothing_photos

ROWS = 40


def manifest_with_a_bad_row(path: Path) -> Path:
    """40 clothing photos, then a row whose image file does not exist."""
    write_clothing_manifest(CLOTHING, path, item_ids={p.stem for p in clothing_photos(ROWS)})
    with path.open("a", newline="") as f:
        csv.writer(f).writerow(["ghost-item", "no-such-photo.jpg", "", "", "", "", "", ""])
    return path


def test_an_ingest_job_loads_the_catalog_and_keeps_its_rejects(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    runtime = make_runtime()
    queue = job_queue(runtime.settings)
    manifest = manifest_with_a_bad_row(tmp_path / "shop.csv")
    job = queue.submit(INGEST, ingest_params(manifest, "shop", images_root=CLOTHING_IMAGES), owner="acme")
    done = job_runner(runtime, queue).run_once()
    assert done is not None and done.id == job.id, done
    assert done.state is JobState.SUCCEEDED, done.error
    summary = done.summary or {}
    assert summary["loaded_items"] == ROWS and summary["rejected"] == 1 and summary["published"]
    assert runtime.index_store.current_version("shop") == summary["index_version"]
    assert done.rejects_total == 1 and done.rejects[0]["item_id"] == "ghost-item"
    assert done.progress_done == done.progress_total == ROWS + 1


def test_a_cancelled_ingest_publishes_nothing_and_a_rerun_reuses_what_it_stored(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    runtime = make_runtime()
    queue = job_queue(runtime.settings)
    manifest = manifest_with_a_bad_row(tmp_path / "shop.csv")
    ingest = ingest_handler(runtime)

    def cancelled_while_running(job: Job, context: JobContext) -> Outcome:
        queue.cancel(job.id)  # as if a user cancelled during the first batch
        return ingest(job, context)

    params = ingest_params(manifest, "shop", images_root=CLOTHING_IMAGES)
    first = queue.submit(INGEST, params)
    runner = job_runner(runtime, queue)
    runner.handlers[INGEST] = cancelled_while_running
    stopped = runner.run_once()
    assert stopped is not None and stopped.id == first.id and stopped.state is JobState.CANCELLED
    assert runtime.index_store.current_version("shop") is None  # nothing half-published
    assert 0 < stopped.progress_done < ROWS

    again = queue.submit(INGEST, params)
    done = job_runner(runtime, queue).run_once()
    assert done is not None and done.id == again.id and done.state is JobState.SUCCEEDED
    summary = done.summary or {}
    assert summary["reused_images"] == stopped.progress_done  # the first batch was not embedded twice
    assert summary["loaded_items"] == ROWS and runtime.index_store.current_version("shop")


def test_the_server_runs_queued_jobs_and_shows_them_over_http(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    runtime: Runtime = make_runtime(jobs=JobsSettings(poll_s=0.1))
    manifest = manifest_with_a_bad_row(tmp_path / "shop.csv")
    with TestClient(create_app(runtime=runtime)) as client:
        queue: JobQueue = client.app.state.jobs  # type: ignore[attr-defined]
        job = queue.submit(INGEST, ingest_params(manifest, "shop", images_root=CLOTHING_IMAGES))
        deadline = time.time() + 120
        while (body := client.get(f"/v1/jobs/{job.id}").json())["state"] not in ("succeeded", "failed"):
            assert time.time() < deadline, body
            time.sleep(0.2)
        assert body["state"] == "succeeded", body
        assert body["progress"] == 1.0 and body["summary"]["loaded_items"] == ROWS
        assert body["rejects_total"] == 1 and body["rejects"][0]["item_id"] == "ghost-item"
        listed = client.get("/v1/jobs", params={"kind": INGEST}).json()
        assert [j["id"] for j in listed["jobs"]] == [job.id] and listed["next_before"] is None

        queued = queue.submit("not-a-kind-this-server-runs")
        cancelled = client.post(f"/v1/jobs/{queued.id}/cancel").json()
        assert cancelled["state"] == "cancelled"

        missing = client.get("/v1/jobs/0123abcd")
        assert missing.status_code == 404 and missing.json()["title"] == "Unknown job"
        foreign = queue.submit("other", owner="someone-else")
        assert client.get(f"/v1/jobs/{foreign.id}").status_code == 404
        assert client.post(f"/v1/jobs/{foreign.id}/cancel").status_code == 404
        assert client.get("/v1/jobs/not-hex!").status_code == 422
