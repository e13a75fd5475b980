"""The long schemathesis run (issue 16: >= 50,000 cases over every operation, no 5xx, no schema
violation), split over parallel pytest processes so that it fits an hour on a shared 2-core box.

    python -m bench.fuzz --workers 3 --examples 800 --out bench/results/fuzz.json

Each worker runs ``tests/test_fuzz_api.py`` over every N-th (operation, mode) pair, in its own
app, data folder and hypothesis seed, in ``--rounds`` passes over all its pairs (a run stopped at
``--max-minutes`` has still covered every operation), and rewrites its counts after every pair;
this sums them. A worker waits on its requests
(the ASGI round trip, SQLite, the thread pool) as much as it computes, so three workers finish
in well under half the time of one.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from lookalike.cpu_features import this_cpu

ROOT = Path(__file__).resolve().parents[1]


def run(workers: int, examples: int, rounds: int, max_minutes: float, work: Path) -> dict[str, object]:
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    load_before = os.getloadavg()
    procs = []
    for k in range(1, workers + 1):
        report = work / f"shard-{k}.json"
        report.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            *("-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "tests/test_fuzz_api.py"),
            f"--fuzz-examples={examples}",
            f"--fuzz-shard={k}/{workers}",
            f"--fuzz-report={report}",
            f"--fuzz-rounds={rounds}",
            f"--basetemp={work / f'tmp-{k}'}",
        ]
        log = (work / f"shard-{k}.log").open("w")
        procs.append((report, subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)))
    stopped = False
    for _, proc in procs:
        try:
            proc.wait(timeout=max(1.0, started + max_minutes * 60 - time.monotonic()))
        except subprocess.TimeoutExpired:  # out of time: stop them all; their reports say what ran
            stopped = True
            break
    if stopped:
        for _, proc in procs:
            proc.send_signal(signal.SIGINT)
        for _, proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    codes = [proc.wait() for _, proc in procs]
    wall_s = time.monotonic() - started
    result = summarize([r for r, _ in procs], workers, examples, rounds, wall_s, stopped)
    return result | {"load_average_at_start": [round(x, 1) for x in load_before], "worker_exit_codes": codes}


def summarize(
    reports: list[Path], workers: int, examples: int, rounds: int, wall_s: float, stopped: bool
) -> dict[str, object]:
    """The workers' reports summed (``--summarize``: of a run stopped by hand, from what they wrote)."""
    cases: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    failures: dict[str, str] = {}
    operations: set[str] = set()
    rounds_done = rounds
    for report in reports:
        if not report.is_file():
            failures[report.name] = "no report: the worker crashed (see its log)"
            continue
        shard = json.loads(report.read_text())
        operations |= set(shard["operations"])
        cases.update(shard["cases"])
        statuses.update(shard["statuses"])
        failures.update(shard["failures"])
        rounds_done = min(rounds_done, shard["rounds_done"])
    total = sum(cases.values())
    return {
        "command": f"python -m bench.fuzz --workers {workers} --examples {examples} --rounds {rounds}",
        "cpu": this_cpu().summary(),
        "cores": os.cpu_count(),
        "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
        "workers": workers,
        "examples_per_operation_and_mode": examples,
        "rounds": rounds,
        "rounds_done": rounds_done,
        "stopped_at_time_limit": stopped,
        "operations": len(operations),
        "operations_without_cases": sorted(operations - set(cases)),
        "cases": total,
        "cases_per_s": round(total / wall_s, 1),
        "wall_s": round(wall_s),
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(n for code, n in statuses.items() if int(code) >= 500),
        "failures": failures,
        "cases_per_operation": dict(sorted(cases.items())),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--examples", type=int, default=800, help="cases per operation and mode (valid, invalid)")
    ap.add_argument("--rounds", type=int, default=4, help="passes over every operation, examples split")
    ap.add_argument("--max-minutes", type=float, default=90.0, help="then stop the workers and report")
    ap.add_argument(
        "--summarize",
        action="store_true",
        help="start nothing: sum the reports already in --work-dir (a run stopped by hand)",
    )
    ap.add_argument("--work-dir", type=Path, default=Path("var/fuzz"))
    ap.add_argument("--out", type=Path, default=Path("bench/results/fuzz.json"))
    args = ap.parse_args()
    work = args.work_dir.resolve()
    if args.summarize:
        reports = sorted(work.glob("shard-*.json"))
        fuzzing_s = max(json.loads(r.read_text())["seconds"] for r in reports)
        result = summarize(reports, len(reports), args.examples, args.rounds, fuzzing_s, True)
    else:
        result = run(args.workers, args.examples, args.rounds, args.max_minutes, work)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    summary = {k: v for k, v in result.items() if k != "cases_per_operation"}
    print(json.dumps(summary, indent=2))
    sys.exit(
        0
        if not result["failures"] and not result["server_errors"] and not result["stopped_at_time_limit"]
        else 1
    )


if __name__ == "__main__":
    main()
