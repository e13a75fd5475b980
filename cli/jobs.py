"""lookalike jobs: the durable job queue (list, show, cancel) and a worker that runs it."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from cli.options import ConfigOpt, group
from jobs import Job, JobState
from lookalike.errors import ClientError
from lookalike.settings import load_settings

jobs_app = group(
    "Background jobs (catalog loads, bulk searches) kept in the database: see them, cancel them, run them."
)

JobIdArg = Annotated[str, typer.Argument(metavar="JOB_ID", help="The job's id.")]
OwnerOpt = Annotated[
    str | None, typer.Option("--owner", metavar="TEXT", help="Only this owner's (tenant's) jobs.")
]


def describe(job: Job) -> str:
    """One line per job: id, kind, state, progress, owner."""
    progress = "" if job.progress is None else f" {job.progress:.0%}"
    total = f" {job.progress_done}/{job.progress_total}" if job.progress_total else ""
    return f"{job.id}  {job.kind:<14} {job.state.value:<9}{progress}{total}  owner={job.owner}"


def as_dict(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "owner": job.owner,
        "state": job.state.value,
        "progress": job.progress,
        "progress_done": job.progress_done,
        "progress_total": job.progress_total,
        "params": job.params,
        "summary": job.summary,
        "rejects_total": job.rejects_total,
        "rejects": job.rejects,
        "error": job.error,
        "attempts": job.attempts,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


@jobs_app.command("list")
def list_jobs(
    config: ConfigOpt = None,
    owner: OwnerOpt = None,
    state: Annotated[
        list[JobState] | None, typer.Option("--state", help="Only jobs in this state (repeatable).")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", metavar="TEXT", help="Only this kind.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, metavar="N")] = 50,
) -> None:
    """The newest jobs first."""
    from service.jobs import job_queue

    for job in job_queue(load_settings(config)).list(owner=owner, kind=kind, states=state, limit=limit):
        typer.echo(describe(job))


@jobs_app.command("show")
def show(job_id: JobIdArg, config: ConfigOpt = None) -> None:
    """Everything about one job as JSON: state, progress, summary, rejects, error."""
    from service.jobs import job_queue

    try:
        job = job_queue(load_settings(config)).get(job_id)
    except ClientError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(as_dict(job), indent=2))


@jobs_app.command("cancel")
def cancel(job_id: JobIdArg, config: ConfigOpt = None) -> None:
    """Cancel a job: at once if queued, at its next progress step if running."""
    from service.jobs import job_queue

    try:
        job = job_queue(load_settings(config)).cancel(job_id)
    except ClientError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(describe(job) + ("  (cancel requested)" if job.state is JobState.RUNNING else ""))


@jobs_app.command("work")
def work(
    config: ConfigOpt = None,
    once: Annotated[bool, typer.Option("--once", help="Run the queued jobs, then exit.")] = False,
) -> None:
    """Run queued jobs in this process, one at a time, until stopped (Ctrl-C) or, with --once, drained.

    Start as many workers as you like, on any machine that reads the same database and data folder:
    each job runs on exactly one of them, and a job whose worker dies runs again on another.
    """
    from service.jobs import job_runner
    from service.runtime import Runtime

    settings = load_settings(config)
    runner = job_runner(Runtime(settings))
    kinds = ", ".join(runner.handlers)
    typer.echo(f"worker {runner.worker}: running {kinds} jobs from {runner.queue.describe()}")
    try:
        while True:
            job = runner.run_once()
            if job is not None:
                typer.echo(describe(job) + (f"  error: {job.error}" if job.error else ""))
            elif once:
                return
            else:
                time.sleep(settings.jobs.poll_s)
    except KeyboardInterrupt:
        typer.echo("stopped")
