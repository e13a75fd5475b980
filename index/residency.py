"""Which catalogs' indexes stay in memory: least recently used out first, under a byte budget.

One job: decide residency. A key loads on first use, in a small pool of loader threads, once
however many callers ask at the same moment (single flight); every caller waits for that one
load, at most ``load_timeout_s`` (then ``CatalogLoadingError``: 503 with Retry-After, and the
load goes on, so a retry finds it resident). After each load or resize the least recently used
keys are evicted until the resident bytes fit the budget again; pinned keys are never evicted
(a pinned set over the budget is served anyway, with a warning). An evicted value is only
dropped from here: searches that still hold it finish on it, and Python frees it after them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from lookalike.errors import CatalogLoadingError

log = logging.getLogger(__name__)

V = TypeVar("V")


class ResidencyObserver(Protocol):
    """What residency reports (``index.metrics.ResidencyMetrics``; tests count with their own)."""

    def hit(self, key: str) -> None: ...
    def miss(self, key: str) -> None: ...
    def loaded(self, key: str, seconds: float) -> None: ...
    def evicted(self, key: str) -> None: ...
    def resident(self, count: int, nbytes: int) -> None: ...


class _Quiet:
    def hit(self, key: str) -> None:
        pass

    def miss(self, key: str) -> None:
        pass

    def loaded(self, key: str, seconds: float) -> None:
        pass

    def evicted(self, key: str) -> None:
        pass

    def resident(self, count: int, nbytes: int) -> None:
        pass


@dataclass
class _Slot(Generic[V]):
    value: V
    nbytes: int


class Residency(Generic[V]):
    """An LRU of loaded values under ``budget_bytes``; ``load`` is single-flight per key."""

    def __init__(
        self,
        budget_bytes: int,
        *,
        pinned: Iterable[str] = (),
        load_timeout_s: float = 10.0,
        loaders: int = 2,
        observer: ResidencyObserver | None = None,
        on_evict: Callable[[str, V], None] | None = None,
    ) -> None:
        self.budget_bytes = budget_bytes
        self.pinned = set(pinned)
        self.load_timeout_s = load_timeout_s
        self.observer: ResidencyObserver = observer or _Quiet()
        self.on_evict = on_evict
        self._slots: OrderedDict[str, _Slot[V]] = OrderedDict()  # least recently used first
        self._loading: dict[str, Future[V]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(1, loaders), thread_name_prefix="index-load")
        self._load_seconds = 1.0  # a running estimate, for Retry-After

    # -- reading -------------------------------------------------------------------------------

    def get(self, key: str) -> V | None:
        """The resident value (now the most recently used), or None."""
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                return None
            self._slots.move_to_end(key)
        self.observer.hit(key)
        return slot.value

    def peek(self, key: str) -> V | None:
        """The resident value without touching its recency (background checks)."""
        with self._lock:
            slot = self._slots.get(key)
        return None if slot is None else slot.value

    def snapshot(self) -> list[tuple[str, V, int]]:
        """(key, value, bytes), least recently used first."""
        with self._lock:
            return [(k, s.value, s.nbytes) for k, s in self._slots.items()]

    def resident(self) -> list[tuple[str, int]]:
        """(key, bytes), least recently used first."""
        with self._lock:
            return [(k, s.nbytes) for k, s in self._slots.items()]

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(s.nbytes for s in self._slots.values())

    # -- loading -------------------------------------------------------------------------------

    def load(self, key: str, loader: Callable[[], tuple[V, int]]) -> V:
        """The value of ``key``: resident, or loaded once by ``loader`` (value, bytes) however many
        threads ask at once. Waits at most ``load_timeout_s``; the loader's own errors propagate."""
        with self._lock:
            slot = self._slots.get(key)
            if slot is not None:
                self._slots.move_to_end(key)
                future: Future[V] | None = None
            else:
                future = self._loading.get(key)
                if future is None:
                    future = self._pool.submit(self._run, key, loader)
                    self._loading[key] = future
        if slot is not None:
            self.observer.hit(key)
            return slot.value
        assert future is not None
        self.observer.miss(key)
        try:
            return future.result(timeout=self.load_timeout_s)
        except FutureTimeout:
            raise CatalogLoadingError(
                f"catalog {key!r} is still loading after {self.load_timeout_s:g} s; retry shortly",
                retry_after_s=max(1.0, self._load_seconds),
            ) from None

    def _run(self, key: str, loader: Callable[[], tuple[V, int]]) -> V:
        start = time.perf_counter()
        try:
            value, nbytes = loader()
        except BaseException:
            with self._lock:
                self._loading.pop(key, None)
            raise
        seconds = time.perf_counter() - start
        with self._lock:
            self._slots[key] = _Slot(value, nbytes)
            self._slots.move_to_end(key)
            self._loading.pop(key, None)
            self._load_seconds = 0.8 * self._load_seconds + 0.2 * seconds
        self.observer.loaded(key, seconds)
        self._make_room(keep=key)
        return value

    def resize(self, key: str, nbytes: int) -> None:
        """A resident value changed size (a new version swapped in): evict others if it no longer fits."""
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                return
            slot.nbytes = nbytes
        self._make_room(keep=key)

    def replace(self, key: str, value: V, nbytes: int) -> None:
        """Swap a resident value in place (same recency); nothing happens if it was evicted meanwhile."""
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                return
            slot.value, slot.nbytes = value, nbytes
        self._make_room(keep=key)

    def evict(self, key: str) -> bool:
        """Drop ``key`` now, pinned or not (an operator's unload); True if it was resident."""
        with self._lock:
            slot = self._slots.pop(key, None)
        if slot is not None:
            self._evicted(key, slot)
        self._report()
        return slot is not None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- making room ---------------------------------------------------------------------------

    def _make_room(self, keep: str) -> None:
        out: list[tuple[str, _Slot[V]]] = []
        with self._lock:
            total = sum(s.nbytes for s in self._slots.values())
            for key in list(self._slots):
                if total <= self.budget_bytes:
                    break
                if key == keep or key in self.pinned:
                    continue
                slot = self._slots.pop(key)
                total -= slot.nbytes
                out.append((key, slot))
            over = total > self.budget_bytes
        for key, slot in out:
            self._evicted(key, slot)
        if over:
            log.warning(
                "residency_over_budget bytes=%d budget=%d (pinned catalogs or one catalog larger than "
                "the budget stay resident)",
                total,
                self.budget_bytes,
            )
        self._report()

    def _evicted(self, key: str, slot: _Slot[V]) -> None:
        log.info("index_evicted catalog=%s bytes=%d", key, slot.nbytes)
        self.observer.evicted(key)
        if self.on_evict is not None:
            self.on_evict(key, slot.value)

    def _report(self) -> None:
        with self._lock:
            count, nbytes = len(self._slots), sum(s.nbytes for s in self._slots.values())
        self.observer.resident(count, nbytes)


__all__ = ["Residency", "ResidencyObserver"]
