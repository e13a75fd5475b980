"""Read image bytes from local files and http(s) URLs in a small thread pool."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType

import httpx

from catalog_ingest.rows import ImageRef
from lookalike.netguard import AddressPolicy, UnsafeDestinationError, guarded_transport
from lookalike.settings import IngestSettings


@dataclass(frozen=True, slots=True)
class Fetched:
    """The bytes of one image, or why they could not be read."""

    data: bytes | None
    error: str | None = None


class Fetcher:
    """Opened once per ingest run: one HTTP client and one pool for all rows."""

    def __init__(self, settings: IngestSettings) -> None:
        self.max_bytes = settings.max_image_bytes
        self.timeout_s = settings.fetch_timeout_s
        self._pool = ThreadPoolExecutor(max_workers=settings.fetch_workers, thread_name_prefix="ingest-fetch")
        self._client: httpx.Client | None = None
        self._workers = settings.fetch_workers
        self._policy = AddressPolicy.of(
            allow_private=settings.fetch_allow_private_networks,
            allowed_networks=settings.fetch_allowed_networks,
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._client is not None:
            self._client.close()

    @property
    def client(self) -> httpx.Client:
        if self._client is None:  # only runs that name URLs pay for a client
            self._client = httpx.Client(
                transport=guarded_transport(self._policy, httpx.Limits(max_connections=self._workers)),
                timeout=self.timeout_s,
                follow_redirects=True,
                headers={"User-Agent": "lookalike-ingest"},
            )
        return self._client

    def fetch_all(self, refs: Sequence[ImageRef]) -> list[Fetched]:
        """Results in the order of ``refs``; never raises for a single bad image."""
        return [future.result() for future in self.submit_all(refs)]

    def submit_all(self, refs: Sequence[ImageRef]) -> list[Future[Fetched]]:
        """Start reading ``refs`` in the pool; each future's result is one ``fetch``."""
        if any(ref.is_url for ref in refs):
            _ = self.client  # create it here, not racing in the pool's threads
        return [self._pool.submit(self.fetch, ref) for ref in refs]

    def fetch(self, ref: ImageRef) -> Fetched:
        return self._fetch_url(ref.source) if ref.is_url else self._read_file(ref.source)

    def _read_file(self, source: str) -> Fetched:
        try:
            with open(source, "rb") as f:
                size = f.seek(0, 2)
                if size > self.max_bytes:
                    return Fetched(
                        None, f"image file {source} has {size} bytes, over the limit of {self.max_bytes}"
                    )
                f.seek(0)
                return Fetched(f.read())
        except FileNotFoundError:
            return Fetched(None, f"image file not found: {source}")
        except IsADirectoryError:
            return Fetched(None, f"image path is a folder, not a file: {source}")
        except OSError as exc:
            return Fetched(None, f"cannot read image file {source}: {exc.strerror or exc}")

    def _fetch_url(self, url: str) -> Fetched:
        try:
            with self.client.stream("GET", url) as response:
                if response.status_code != 200:
                    return Fetched(None, f"could not fetch {url}: HTTP {response.status_code}")
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        return Fetched(None, f"image at {url} is over the limit of {self.max_bytes} bytes")
                    chunks.append(chunk)
                return Fetched(b"".join(chunks))
        except UnsafeDestinationError as exc:
            return Fetched(None, f"could not fetch {url}: {exc}")
        except httpx.TimeoutException:
            return Fetched(None, f"could not fetch {url}: timed out after {self.timeout_s:g} s")
        except httpx.HTTPError as exc:
            return Fetched(None, f"could not fetch {url}: {exc or type(exc).__name__}")
