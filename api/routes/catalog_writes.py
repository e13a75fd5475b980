"""Catalogs managed over HTTP, as a retailer's backend calls them: create and delete a catalog,
read its index state, upsert and delete items with their reference images.

Writes run the same code as ``lookalike ingest`` (``catalog_ingest``) and publish the index
before answering, so a search right after a write sees it.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Response
from fastapi import Path as PathParam

from api.auth import ReadCatalog, TenancyDep, WriteCatalog, WriterCaller
from api.deps import RuntimeDep
from api.problems import documented_problem
from api.tenancy_schemas import CatalogDetail, CatalogIn, ItemIn, RejectOut, UpsertOut
from catalog import ItemRecord
from catalog_ingest.maintenance import delete_items, remove_catalog
from catalog_ingest.upsert import ImageInput, ItemUpsert, upsert_items
from index import IndexStore
from lookalike.errors import ImageTooLargeError, InvalidParameterError, UnknownItemError
from service.runtime import Runtime
from tenancy import CatalogRef, ConflictError

router = APIRouter(prefix="/v1/catalogs", tags=["catalogs"])

ItemPath = Annotated[str, PathParam(min_length=1, max_length=500)]


AUTH: dict[int | str, dict[str, Any]] = {
    401: documented_problem("No API key, or an unknown, expired or revoked one"),
    403: documented_problem("The key lacks the scope, or the plan's limit (named in `limit`) is reached"),
    429: documented_problem("Over the plan's request rate (Retry-After says when to come back)"),
}
WRITE: dict[int | str, dict[str, Any]] = {
    **AUTH,
    404: documented_problem("Unknown catalog or item"),
    409: documented_problem("You already have a catalog by that name"),
    413: documented_problem("An image over the byte limit"),
    422: documented_problem("Invalid body or catalog name"),
}


def index_time(index_store: IndexStore, catalog: str) -> datetime | None:
    """When the live index last caught up with writes: its newest delta segment, else its version."""
    base = index_store.current_version(catalog)
    if base is None:
        return None
    segments = index_store.segments(catalog, base)
    stamp = segments[-1].created_at if segments else index_store.read_manifest(catalog, base).created_at
    return datetime.fromisoformat(stamp)


def detail(runtime: Runtime, ref: CatalogRef) -> CatalogDetail:
    info = runtime.store.get_catalog(ref.storage)
    return CatalogDetail(
        name=ref.name,
        item_count=info.item_count,
        image_count=info.image_count,
        created_at=info.created_at,
        index_version=runtime.index_store.live_version(ref.storage),
        index_time=index_time(runtime.index_store, ref.storage),
    )


@router.post(
    "",
    response_model=CatalogDetail,
    status_code=201,
    summary="Create an empty catalog (within the plan's count of catalogs)",
    responses=WRITE,
)
def create_catalog(
    body: CatalogIn, caller: WriterCaller, t: TenancyDep, runtime: RuntimeDep
) -> CatalogDetail:
    t.check_model(caller, runtime.settings.embedder.spec)
    if caller.tenant_id is None:
        if body.name in {c.name for c in runtime.store.list_catalogs()}:
            raise ConflictError(f"catalog {body.name!r} already exists")
        runtime.store.ensure_catalog(body.name)
        ref = CatalogRef(body.name, body.name)
    else:
        ref = CatalogRef(body.name, t.store.create_catalog(caller.tenant_id, body.name, caller.plan))
    return detail(runtime, ref)


@router.get(
    "/{catalog}",
    response_model=CatalogDetail,
    summary="A catalog's counts, live index version and when the index last caught up (index_time)",
    responses=WRITE,
)
def get_catalog(ref: ReadCatalog, runtime: RuntimeDep) -> CatalogDetail:
    return detail(runtime, ref)


@router.delete(
    "/{catalog}", status_code=204, summary="Delete a catalog, its items and its indexes", responses=WRITE
)
def delete_catalog(ref: WriteCatalog, caller: WriterCaller, t: TenancyDep, runtime: RuntimeDep) -> Response:
    remove_catalog(runtime.ingest_parts(), ref.storage)
    t.meter_ingest(caller, 0)
    return Response(status_code=204)


def _images(body: ItemIn, max_bytes: int) -> list[ImageInput]:
    images = []
    for n, image in enumerate(body.images):
        if (image.url is None) == (image.base64 is None):
            raise InvalidParameterError(f"image {n}: give exactly one of url or base64")
        if image.url is not None:
            if not image.url.lower().startswith(("http://", "https://")):
                raise InvalidParameterError(f"image {n}: url {image.url!r} is not http(s)")
            images.append(ImageInput(url=image.url))
            continue
        assert image.base64 is not None
        if len(image.base64) * 3 // 4 > max_bytes:
            raise ImageTooLargeError(f"image {n} is over the {max_bytes}-byte limit")
        try:
            images.append(ImageInput(data=base64.b64decode(image.base64, validate=True)))
        except (binascii.Error, ValueError) as exc:
            raise InvalidParameterError(f"image {n}: base64 does not decode: {exc}") from exc
    return images


@router.put(
    "/{catalog}/items/{item_id:path}",
    response_model=UpsertOut,
    summary="Create or update an item: its metadata replaces the stored one, its images are added",
    responses=WRITE,
)
def upsert_item(
    ref: WriteCatalog,
    item_id: ItemPath,
    body: ItemIn,
    caller: WriterCaller,
    t: TenancyDep,
    runtime: RuntimeDep,
) -> UpsertOut:
    images = _images(body, runtime.settings.ingest.max_image_bytes)
    t.check_model(caller, runtime.models.embedder_settings(ref.storage).spec)
    if not runtime.store.find_items(ref.storage, [item_id]):
        t.check_items(caller, ref, 1)
    fields = body.model_dump(exclude={"images", "attributes"})
    record = ItemRecord(item_id=item_id, **fields, attributes=dict(body.attributes))
    report = upsert_items(runtime.ingest_parts(ref.storage), ref.storage, [ItemUpsert(record, images)])
    t.meter_ingest(caller, report.loaded_images)
    return UpsertOut(
        catalog=ref.name,
        item_id=item_id,
        images_added=report.loaded_images,
        rejects=[RejectOut(image=_shown(r.image), reason=r.reason) for r in report.rejects],
        index_version=runtime.index_store.live_version(ref.storage),
    )


def _shown(image: str) -> str:
    """A URL as sent; an uploaded file by its content hash (never a server path)."""
    return (
        image if image.lower().startswith(("http://", "https://")) else "sha256:" + image.rsplit("/", 1)[-1]
    )


@router.delete(
    "/{catalog}/items/{item_id:path}",
    status_code=204,
    summary="Delete an item; searches stop returning it at once",
    responses=WRITE,
)
def delete_item(
    ref: WriteCatalog, item_id: ItemPath, caller: WriterCaller, t: TenancyDep, runtime: RuntimeDep
) -> Response:
    if runtime.index_store.current_version(ref.storage) is None:
        deleted = runtime.store.delete_items(ref.storage, [item_id])
    else:
        deleted, _ = delete_items(runtime.store, runtime.index_store, ref.storage, [item_id])
    if not deleted:
        raise UnknownItemError(f"catalog {ref.name!r} has no item {item_id!r}")
    t.meter_ingest(caller, 0)
    return Response(status_code=204)


__all__ = ["router"]
