"""Pick the compute device at run time: CUDA (with fp16) when present, else the CPU."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import torch


def resolve_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def configure_cpu_threads(threads: int) -> None:
    """0 keeps torch's default (all cores)."""
    if threads > 0:
        torch.set_num_threads(threads)


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Small matrices (a head on cached vectors) on one thread, restored after: on two shared cores
    a second OpenMP thread only spins at each barrier (a 13 s adapter fit took over 5 minutes)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


P = ParamSpec("P")
R = TypeVar("R")


def on_one_torch_thread(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: the function runs inside ``one_torch_thread``."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with one_torch_thread():
            return fn(*args, **kwargs)

    return wrapper
