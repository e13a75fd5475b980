"""What every verb shares: the --config option, how a sub-command group is made, and help that
reads like a manual."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="TOML settings file (same keys as the LOOKALIKE_* variables).",
        exists=True,
        dir_okay=False,
    ),
]


def group(help: str) -> typer.Typer:
    """A sub-command group (lookalike index ..., lookalike detector ...) with plain, manual-like help."""
    return typer.Typer(no_args_is_help=True, add_completion=False, help=help, rich_markup_mode=None)
