"""The page's routes: four HTML shells (search, catalogs, a catalog, an item) and their static files.

The shells are small Jinja2 templates; the scripts they load fill them from the public API.
None of these routes is part of the API, so none shows in the OpenAPI document, and nothing
here imports the API's modules: the page is a client of it, which the app mounts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from web.assets import ASSETS
from web.examples import example_file, examples_dir, list_examples

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

CatalogName = Annotated[str, PathParam(min_length=1, max_length=100)]
ItemId = Annotated[str, PathParam(min_length=1, max_length=500)]


def _render(request: Request, template: str, script: str, **context: Any) -> HTMLResponse:
    """Every shell gets the API's and the page's base paths (a proxy's root path included)."""
    root = request.scope.get("root_path", "").rstrip("/")
    return templates.TemplateResponse(
        request,
        template,
        {"root": root, "ui": root + "/ui", "api": root + "/v1", "script": script, **context},
    )


@router.get("/")
def home(request: Request) -> RedirectResponse:
    return RedirectResponse(str(request.url_for("search_page")), status_code=307)


@router.get("/ui/", name="search_page", response_class=HTMLResponse)
def search_page(request: Request) -> HTMLResponse:
    settings = getattr(request.app.state, "settings", None)  # the catalog the API searches by default
    default = settings.api.default_catalog if settings is not None else ""
    examples = list_examples(examples_dir(request))
    return _render(
        request, "search.html", "search.js", page="search", default_catalog=default, examples=examples
    )


@router.get("/ui/catalogs", name="catalogs_page", response_class=HTMLResponse)
def catalogs_page(request: Request) -> HTMLResponse:
    return _render(request, "catalogs.html", "catalogs.js", page="catalogs")


@router.get("/ui/catalogs/{catalog}", name="catalog_page", response_class=HTMLResponse)
def catalog_page(request: Request, catalog: CatalogName) -> HTMLResponse:
    return _render(request, "catalog.html", "catalog.js", page="catalogs", catalog=catalog)


@router.get("/ui/catalogs/{catalog}/items/{item_id:path}", name="item_page", response_class=HTMLResponse)
def item_page(request: Request, catalog: CatalogName, item_id: ItemId) -> HTMLResponse:
    return _render(request, "item.html", "item.js", page="catalogs", catalog=catalog, item_id=item_id)


@router.get("/ui/examples/{name}", name="web_example")
def example(request: Request, name: str) -> Response:
    path = example_file(examples_dir(request), name)
    if path is None:
        return Response(f"no example {name!r}", status_code=404, media_type="text/plain")
    return FileResponse(path, headers={"Cache-Control": "no-cache"})


@router.get("/ui/static/{name}", name="web_static")
def static_file(request: Request, name: str) -> Response:
    asset = ASSETS.get(name)
    if asset is None:
        return Response(f"the page has no file {name!r}", status_code=404, media_type="text/plain")
    headers = {"ETag": asset.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
