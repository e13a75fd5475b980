"""GET /v1/catalogs, one item, and the item's image (served from disk, or a redirect to its URL)."""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlparse

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, RedirectResponse, Response
from PIL import Image, UnidentifiedImageError

from api.deps import RuntimeDep
from api.presenters import item_out
from api.problems import ItemImageNotFoundError
from api.schemas import CATALOG_PATTERN, CatalogList, CatalogOut, ItemOut

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/catalogs", tags=["catalogs"])

CatalogPath = Annotated[str, PathParam(min_length=1, max_length=100, pattern=CATALOG_PATTERN)]
ItemPath = Annotated[str, PathParam(min_length=1, max_length=500)]
REMOTE_SCHEMES = ("http://", "https://")


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: _problem("Unknown catalog or item"),
    422: _problem("Malformed catalog name"),
}


@router.get("", response_model=CatalogList, summary="Catalogs with their counts and live index version")
def list_catalogs(runtime: RuntimeDep) -> CatalogList:
    return CatalogList(
        catalogs=[
            CatalogOut(
                name=info.name,
                item_count=info.item_count,
                image_count=info.image_count,
                region_count=info.region_count,
                created_at=info.created_at,
                index_version=runtime.index_store.live_version(info.name),
            )
            for info in runtime.store.list_catalogs()
        ]
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


# Declared before the item route: ``{item_id:path}`` lets item ids contain slashes.
@router.get(
    "/{catalog}/items/{item_id:path}/image",
    name="item_image",
    summary="The item's primary image",
    response_class=Response,
    responses={
        200: {
            "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The file",
        },
        307: {"description": "Redirect to the image's remote URL"},
        **NOT_FOUND,
    },
)
def item_image(catalog: CatalogPath, item_id: ItemPath, runtime: RuntimeDep) -> Response:
    sources = runtime.store.item_image_sources(catalog, item_id)
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


@router.get(
    "/{catalog}/items/{item_id:path}", response_model=ItemOut, summary="One catalog item", responses=NOT_FOUND
)
def get_item(catalog: CatalogPath, item_id: ItemPath, runtime: RuntimeDep, request: Request) -> ItemOut:
    return item_out(request, catalog, runtime.store.get_item(catalog, item_id))
