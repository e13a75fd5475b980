"""lookalike: visual product search. Load a catalog, serve the search API, measure its quality.

Typical use: lookalike ingest catalog.csv, then lookalike serve (API docs at /docs), then
lookalike eval BENCHMARK_DIR to measure recall. Settings come from LOOKALIKE_* variables or a
--config TOML file; data lives in data_dir (./var by default).
"""

from __future__ import annotations

import typer

from cli.adapt import adapt
from cli.bench import bench_app
from cli.check import check, gc, repair
from cli.demo import demo_app
from cli.detector import detector_app
from cli.eval import eval_command
from cli.export import export_app
from cli.index import index_app
from cli.ingest import ingest
from cli.jobs import jobs_app
from cli.quantize import quantize_app
from cli.search_batch import search_batch
from cli.serve import serve
from cli.tenants import tenants_app

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, rich_markup_mode=None)
app.command("ingest")(ingest)
app.command("serve")(serve)
app.command("search-batch")(search_batch)
app.command("eval")(eval_command)
app.command("check")(check)
app.command("repair")(repair)
app.command("gc")(gc)
app.command("adapt")(adapt)
app.add_typer(index_app, name="index")
app.add_typer(detector_app, name="detector")
app.add_typer(demo_app, name="demo")
app.add_typer(jobs_app, name="jobs")
app.add_typer(export_app, name="export")
app.add_typer(bench_app, name="bench")
app.add_typer(tenants_app, name="tenants")
app.add_typer(quantize_app, name="quantize")

if __name__ == "__main__":
    app()
