"""The durable job queue: on a real SQLite file and on the real local PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import delete, update

from catalog import CatalogStore
from jobs import (
    Job,
    JobCancelled,
    JobContext,
    JobQueue,
    JobRunner,
    JobState,
    JobStateError,
    LeaseLost,
    Outcome,
    UnknownJobError,
)
from jobs.models import JobRow
from lookalike.errors import InvalidParameterError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def queue(database_url: str) -> JobQueue:
    q = JobQueue(database_url)
    with q.engine.begin() as conn:  # the PostgreSQL database is shared by the session's tests
        conn.execute(delete(JobRow))
    return q


def expire_lease(queue: JobQueue, job_id: str) -> None:
    """As if the lease's time had passed without a heartbeat."""
    with queue.engine.begin() as conn:
        conn.execute(update(JobRow).where(JobRow.id == job_id).values(lease_expires=time.time() - 1))


def counting(job: Job, context: JobContext) -> Outcome:
    total = int(job.params["n"])
    for done in range(total):
        context.progress(done, total, force=True)
    return Outcome(summary={"counted": total}, rejects=[{"row": 2, "reason": "bad row"}])


def test_a_submitted_job_is_queued_and_readable_by_its_owner_only(queue: JobQueue) -> None:
    job = queue.submit("count", {"n": 3}, owner="acme")
    assert job.state is JobState.QUEUED and job.owner == "acme" and job.params == {"n": 3}
    assert queue.get(job.id, owner="acme") == job
    with pytest.raises(UnknownJobError, match=job.id):
        queue.get(job.id, owner="globex")
    with pytest.raises(UnknownJobError):
        queue.get("nope")
    assert [j.id for j in queue.list(owner="globex")] == []


def test_list_is_newest_first_filters_and_pages(queue: JobQueue) -> None:
    ids = [queue.submit("count", {"n": i}, owner="acme").id for i in range(5)]
    queue.submit("other", owner="acme")
    page = queue.list(owner="acme", kind="count", limit=2)
    assert [j.id for j in page] == ids[::-1][:2]
    rest = queue.list(owner="acme", kind="count", limit=10, before=page[-1].id)
    assert [j.id for j in rest] == ids[::-1][2:]
    assert len(queue.list(states=[JobState.QUEUED])) == 6


def test_the_same_idempotency_key_returns_the_first_job(queue: JobQueue) -> None:
    first = queue.submit("count", {"n": 1}, owner="acme", idempotency_key="load-42")
    again = queue.submit("count", {"n": 1}, owner="acme", idempotency_key="load-42")
    other_owner = queue.submit("count", {"n": 1}, owner="globex", idempotency_key="load-42")
    assert again.id == first.id and other_owner.id != first.id


def test_a_runner_runs_a_job_to_its_summary_and_rejects(queue: JobQueue) -> None:
    job = queue.submit("count", {"n": 4})
    done = JobRunner(queue, {"count": counting}).run_once()
    assert done is not None and done.id == job.id
    assert done.state is JobState.SUCCEEDED
    assert done.summary == {"counted": 4}
    assert done.rejects == [{"row": 2, "reason": "bad row"}] and done.rejects_total == 1
    assert done.progress == 1.0 and done.attempts == 1
    assert done.started_at is not None and done.finished_at is not None
    assert JobRunner(queue, {"count": counting}).run_once() is None


def test_a_runner_only_claims_kinds_it_has_handlers_for(queue: JobQueue) -> None:
    job = queue.submit("something-else")
    assert JobRunner(queue, {"count": counting}).run_once() is None
    assert queue.get(job.id).state is JobState.QUEUED


def test_a_job_survives_a_restart_of_the_process_that_queued_it(database_url: str, queue: JobQueue) -> None:
    job = queue.submit("count", {"n": 2}, owner="acme")
    queue.engine.dispose()
    restarted = JobQueue(database_url)
    assert restarted.get(job.id).state is JobState.QUEUED
    assert JobRunner(restarted, {"count": counting}).run_once() is not None
    assert restarted.get(job.id).summary == {"counted": 2}


def test_a_job_whose_worker_went_silent_is_claimed_again_and_the_late_worker_is_refused(
    queue: JobQueue,
) -> None:
    job = queue.submit("count", {"n": 2})
    stalled = queue.claim("worker-a", lease_s=60)
    assert stalled is not None and stalled.worker == "worker-a"
    assert queue.claim("worker-b", lease_s=30) is None  # the lease still holds
    expire_lease(queue, job.id)
    done = JobRunner(queue, {"count": counting}, worker="worker-b").run_once()
    assert done is not None and done.state is JobState.SUCCEEDED and done.attempts == 2
    with pytest.raises(LeaseLost):
        queue.finish(job.id, "worker-a", Outcome(summary={"counted": -1}))
    with pytest.raises(LeaseLost):
        queue.heartbeat(job.id, "worker-a", lease_s=30)
    assert queue.get(job.id).summary == {"counted": 2}


def test_a_job_that_keeps_losing_its_worker_fails_with_the_reason(queue: JobQueue) -> None:
    job = queue.submit("count", {"n": 1}, max_attempts=2)
    for worker in ("a", "b"):
        assert queue.claim(worker, lease_s=0.01) is not None
        time.sleep(0.03)
    assert queue.claim("c") is None
    failed = queue.get(job.id)
    assert failed.state is JobState.FAILED
    assert failed.error is not None and "stopped responding 2 times" in failed.error


def test_a_queued_job_cancelled_never_runs(queue: JobQueue) -> None:
    job = queue.submit("count", {"n": 1})
    assert queue.cancel(job.id).state is JobState.CANCELLED
    assert JobRunner(queue, {"count": counting}).run_once() is None
    assert queue.cancel(job.id).state is JobState.CANCELLED  # cancelling twice is harmless


def test_a_running_job_stops_at_its_next_progress_call_and_publishes_nothing(queue: JobQueue) -> None:
    started, published = threading.Event(), []

    def endless(job: Job, context: JobContext) -> Outcome:
        started.set()
        for done in range(10_000):
            context.progress(done, force=True)
            time.sleep(0.01)
        published.append(job.id)
        return Outcome()

    job = queue.submit("endless")
    runner = JobRunner(queue, {"endless": endless})
    result: list[Job | None] = []
    thread = threading.Thread(target=lambda: result.append(runner.run_once()))
    thread.start()
    assert started.wait(10)
    assert queue.cancel(job.id).cancel_requested
    thread.join(10)
    assert result[0] is not None and result[0].state is JobState.CANCELLED
    assert published == [] and result[0].summary is None


def test_a_client_error_in_a_handler_fails_the_job_with_its_message(queue: JobQueue) -> None:
    def bad_input(job: Job, context: JobContext) -> Outcome:
        raise InvalidParameterError("catalog name 'a b' is not allowed")

    def bug(job: Job, context: JobContext) -> Outcome:
        raise KeyError("oops")

    first, second = queue.submit("bad"), queue.submit("bug")
    runner = JobRunner(queue, {"bad": bad_input, "bug": bug})
    runner.run_once()
    runner.run_once()
    assert queue.get(first.id).error == "catalog name 'a b' is not allowed"
    assert queue.get(second.id).error == "KeyError: 'oops'"
    assert {queue.get(first.id).state, queue.get(second.id).state} == {JobState.FAILED}


def test_two_workers_claiming_at_once_never_both_get_a_job(queue: JobQueue) -> None:
    ids = {queue.submit("count", {"n": 1}).id for _ in range(6)}
    claimed: list[str] = []
    lock = threading.Lock()

    def claim_all(worker: str) -> None:
        while (job := queue.claim(worker)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=claim_all, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(claimed) == sorted(ids)


def test_results_of_a_running_job_are_a_conflict(queue: JobQueue) -> None:
    job = queue.submit("count")
    with pytest.raises(JobStateError, match="queued, not succeeded"):
        queue.require(job.id, JobState.SUCCEEDED)


def test_the_jobs_table_lives_beside_the_catalog_in_one_database(database_url: str, queue: JobQueue) -> None:
    store = CatalogStore(database_url)
    store.migrate()
    queue.submit("count")
    JobQueue(database_url)  # migrating again is a no-op
    assert len(queue.list()) == 1
    assert store.list_catalogs() is not None


KILLED_WORKER = textwrap.dedent(
    """
    import sys, time
    from jobs import JobQueue, JobRunner, Outcome

    def slow(job, context):
        for done in range(1000):
            context.progress(done, 1000, force=True)
            print("working", flush=True)
            time.sleep(0.05)
        return Outcome()

    JobRunner(JobQueue(sys.argv[1]), {"count": slow}, worker="doomed", lease_s=1.0).run_once()
    """
)


def test_a_killed_worker_process_leaves_a_job_that_another_worker_resumes(queue: JobQueue) -> None:
    job = queue.submit("count", {"n": 3})
    url = queue.engine.url.render_as_string(hide_password=False)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, url], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "working"
    finally:
        proc.kill()
        proc.wait()
    assert queue.get(job.id).state is JobState.RUNNING  # half done, owned by a dead worker
    deadline = time.time() + 10
    while (done := JobRunner(queue, {"count": counting}, worker="heir").run_once()) is None:
        assert time.time() < deadline, "the dead worker's lease never ran out"
        time.sleep(0.2)
    assert done.id == job.id and done.state is JobState.SUCCEEDED and done.attempts == 2
    assert done.summary == {"counted": 3} and done.worker == "heir"


def test_cancelling_raises_inside_the_handler(queue: JobQueue) -> None:
    job = queue.submit("count")
    claimed = queue.claim("w")
    assert claimed is not None
    context = JobContext(queue, claimed, "w", lease_s=30)
    queue.cancel(job.id)
    with pytest.raises(JobCancelled):
        context.progress(1, force=True)
