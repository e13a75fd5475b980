"""Example screenshots an operator leaves in ``<data_dir>/examples/``: one click to a first search.

``make demo`` puts its synthetic screenshot there and prints a link that searches it. Only
image files listed in that folder are served, by bare name, so no other file can be reached.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Request

SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif"}
MAX_SHOWN = 12


def examples_dir(request: Request) -> Path | None:
    settings = getattr(request.app.state, "settings", None)
    return Path(settings.data_dir) / "examples" if settings is not None else None


def list_examples(folder: Path | None) -> list[str]:
    """Image file names in ``folder``, sorted; none when it does not exist."""
    if folder is None or not folder.is_dir():
        return []
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    return names[:MAX_SHOWN]


def example_file(folder: Path | None, name: str) -> Path | None:
    return folder / name if name in list_examples(folder) and folder is not None else None


__all__ = ["example_file", "examples_dir", "list_examples"]
