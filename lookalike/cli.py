"""The ``lookalike`` command. One module per verb lives in its stage's package."""

from __future__ import annotations

import typer

from api.cli import serve
from catalog_ingest.cli import ingest
from detector.cli import detector_app
from evaluation.cli import eval_command
from index.cli import index_app

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
app.command("ingest")(ingest)
app.command("serve")(serve)
app.command("eval")(eval_command)
app.add_typer(index_app, name="index")
app.add_typer(detector_app, name="detector")

if __name__ == "__main__":
    app()
