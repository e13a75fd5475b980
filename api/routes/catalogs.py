"""GET /v1/catalogs, their facets and items a page at a time, one item, and its images.

Images are served from disk, or answered with a redirect to their remote URL.
"""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlparse

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, RedirectResponse, Response
from PIL import Image, UnidentifiedImageError

from api.auth import ReadCatalog, ReaderCaller, TenancyDep
from api.deps import RuntimeDep
from api.presenters import item_out, reference_image_url
from api.problems import ItemImageNotFoundError, documented_problem
from api.schemas import (
    DB_INT_MAX,
    CatalogFacets,
    CatalogList,
    CatalogOut,
    ItemImages,
    ItemOut,
    ItemPage,
    ReferenceImageOut,
    ValueCountOut,
)
from catalog import browse

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/catalogs", tags=["catalogs"])

ItemPath = Annotated[str, PathParam(min_length=1, max_length=500)]
MAX_PAGE = 100
REMOTE_SCHEMES = ("http://", "https://")


AUTH: dict[int | str, dict[str, Any]] = {
    401: documented_problem("No API key, or an unknown, expired or revoked one"),
    403: documented_problem("The key lacks the scope this endpoint needs"),
    429: documented_problem("Over the plan's request rate (Retry-After says when to come back)"),
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: documented_problem("Unknown catalog or item"),
    422: documented_problem("Malformed catalog name"),
    **AUTH,
}


@router.get(
    "",
    response_model=CatalogList,
    summary="The caller's catalogs with their counts and live index version",
    responses=AUTH,
)
def list_catalogs(runtime: RuntimeDep, caller: ReaderCaller, tenancy: TenancyDep) -> CatalogList:
    visible = tenancy.visible(caller)
    return CatalogList(
        catalogs=[
            CatalogOut(
                name=info.name if visible is None else visible[info.name],
                item_count=info.item_count,
                image_count=info.image_count,
                region_count=info.region_count,
                created_at=info.created_at,
                index_version=runtime.index_store.live_version(info.name),
            )
            for info in runtime.store.list_catalogs()
            if visible is None or info.name in visible
        ]
    )


@router.get(
    "/{catalog}/facets",
    response_model=CatalogFacets,
    summary="Categories and brands with item counts, and the price range: what a filter form offers",
    responses=NOT_FOUND,
)
def catalog_facets(ref: ReadCatalog, runtime: RuntimeDep) -> CatalogFacets:
    found = browse.facets(runtime.store, ref.storage)
    return CatalogFacets(
        catalog=ref.name,
        categories=[ValueCountOut(value=c.value, count=c.count) for c in found.categories],
        brands=[ValueCountOut(value=b.value, count=b.count) for b in found.brands],
        price_min=found.price_min,
        price_max=found.price_max,
    )


@router.get(
    "/{catalog}/items",
    response_model=ItemPage,
    summary="A catalog's items a page at a time, in the order they were loaded",
    responses=NOT_FOUND,
)
def list_items(
    ref: ReadCatalog,
    runtime: RuntimeDep,
    request: Request,
    offset: Annotated[int, Query(ge=0, le=DB_INT_MAX, description="Items to skip.")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page.")] = 24,
    category: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Only items of this category.")
    ] = None,
) -> ItemPage:
    page = browse.list_items(runtime.store, ref.storage, offset=offset, limit=limit, category=category)
    return ItemPage(
        catalog=ref.name,
        total=page.total,
        offset=offset,
        limit=limit,
        items=[item_out(request, ref, item) for item in page.items],
    )


def local_path(source: str) -> Path | None:
    """A stored image source as a local file, or None for a remote URL."""
    if source.startswith(REMOTE_SCHEMES):
        return None
    if source.startswith("file://"):
        return Path(unquote(urlparse(source).path))
    return Path(source)


def image_media_type(path: Path) -> str:
    """By extension, else by the file's own header (catalog files may have no extension)."""
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed and guessed.startswith("image/"):
        return guessed
    try:
        with Image.open(path) as img:
            return Image.MIME.get(img.format or "", "application/octet-stream")
    except (OSError, UnidentifiedImageError):
        return "application/octet-stream"


IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
        "description": "The file",
    },
    307: {"description": "Redirect to the image's remote URL"},
    **NOT_FOUND,
}


def serve_image(sources: list[str], catalog: str, item_id: str) -> Response:
    """The first of ``sources`` that is here (or remote): a file, or a redirect to its URL."""
    for source in sources:
        path = local_path(source)
        if path is None:
            return RedirectResponse(source, status_code=307)
        if path.is_file():
            return FileResponse(
                path, media_type=image_media_type(path), headers={"Cache-Control": "max-age=3600"}
            )
        log.warning("item_image_missing catalog=%s item=%s source=%s", catalog, item_id, source)
    raise ItemImageNotFoundError(
        f"the image file of item {item_id!r} in catalog {catalog!r} is not on this server"
    )


# Declared before the item route: ``{item_id:path}`` lets item ids contain slashes.
@router.get(
    "/{catalog}/items/{item_id:path}/images/{position}",
    name="item_reference_image",
    summary="One of the item's reference images, by position (0 = primary)",
    response_class=Response,
    responses=IMAGE_RESPONSES,
)
def item_reference_image(
    ref: ReadCatalog,
    item_id: ItemPath,
    position: Annotated[int, PathParam(ge=0)],
    runtime: RuntimeDep,
) -> Response:
    sources = [
        i.source
        for i in browse.reference_images(runtime.store, ref.storage, item_id)
        if i.position == position
    ]
    if not sources:
        raise ItemImageNotFoundError(f"item {item_id!r} in catalog {ref.name!r} has no image {position}")
    return serve_image(sources, ref.name, item_id)


@router.get(
    "/{catalog}/items/{item_id:path}/images",
    response_model=ItemImages,
    summary="The item's reference images, primary first",
    responses=NOT_FOUND,
)
def item_images(ref: ReadCatalog, item_id: ItemPath, runtime: RuntimeDep, request: Request) -> ItemImages:
    return ItemImages(
        catalog=ref.name,
        item_id=item_id,
        images=[
            ReferenceImageOut(
                position=image.position,
                url=reference_image_url(request, ref.name, item_id, image.position, image.source),
                width=image.width,
                height=image.height,
            )
            for image in browse.reference_images(runtime.store, ref.storage, item_id)
        ],
    )


@router.get(
    "/{catalog}/items/{item_id:path}/image",
    name="item_image",
    summary="The item's primary image",
    response_class=Response,
    responses=IMAGE_RESPONSES,
)
def item_image(ref: ReadCatalog, item_id: ItemPath, runtime: RuntimeDep) -> Response:
    return serve_image(runtime.store.item_image_sources(ref.storage, item_id), ref.name, item_id)


@router.get(
    "/{catalog}/items/{item_id:path}", response_model=ItemOut, summary="One catalog item", responses=NOT_FOUND
)
def get_item(ref: ReadCatalog, item_id: ItemPath, runtime: RuntimeDep, request: Request) -> ItemOut:
    return item_out(request, ref, runtime.store.get_item(ref.storage, item_id))
