"""Parse a POST /v1/search request: multipart upload, JSON (base64 or URL), or raw image bytes.

The body is read against a hard byte cap (Content-Length first, then while streaming), so an
oversized upload is refused before it is held in memory or spooled to disk.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api.problems import MalformedBodyError, UnsupportedMediaTypeError
from api.schemas import SearchJson, SearchParams
from lookalike.errors import ImageTooLargeError, InvalidParameterError

FIELD_BYTES = 64 * 1024
"""Room for the non-image parts of a body: form fields, JSON keys, multipart headers."""

ACCEPTED_TYPES = "multipart/form-data (file field 'image'), application/json (image_base64 or image_url)"


@dataclass(frozen=True)
class SearchInput:
    """What the request asked for: parameters, and either the image bytes or a URL to fetch."""

    params: SearchParams
    image: bytes | None
    image_url: str | None
    source: str


def declared_length(request: Request, limit: int) -> None:
    """Refuse early on Content-Length, before reading a byte."""
    header = request.headers.get("content-length")
    if header is None:
        return
    if not header.strip().isdigit():
        raise MalformedBodyError(f"Content-Length {header!r} is not a byte count")
    if int(header) > limit:
        raise ImageTooLargeError(f"request body of {int(header)} bytes is over the limit of {limit} bytes")


async def capped_stream(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The body, chunk by chunk, failing as soon as it passes ``limit`` (chunked uploads have no length)."""
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ImageTooLargeError(f"request body is over the limit of {limit} bytes")
        if chunk:
            yield chunk


async def read_capped(request: Request, limit: int) -> bytes:
    declared_length(request, limit)
    return b"".join([chunk async for chunk in capped_stream(request, limit)])


def decode_base64(text: str) -> bytes:
    """Standard or URL-safe base64, padding optional, whitespace and a data: URL prefix tolerated."""
    data = text.strip()
    if data.startswith("data:"):
        header, sep, data = data.partition(",")
        if not sep or not header.endswith(";base64"):
            raise InvalidParameterError("image_base64 is a data: URL without ';base64,' before the data")
    data = "".join(data.split())
    if not data:
        raise InvalidParameterError("image_base64 is empty")
    altchars = b"-_" if ("-" in data or "_" in data) else None
    data += "=" * (-len(data) % 4)
    try:
        return base64.b64decode(data, altchars=altchars, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameterError(f"image_base64 is not valid base64 ({exc})") from exc


def _raw_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Repeated names become lists (``categories=a&categories=b``); single ones stay strings."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            out[key] = [*out[key], value] if isinstance(out[key], list) else [out[key], value]
        else:
            out[key] = value
    return out


ATTR_PREFIX = "attr."


def fold_attributes(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``attr.<name>=value`` fields become entries of ``attributes`` (a JSON object string is merged)."""
    out = {k: v for k, v in fields.items() if not k.startswith(ATTR_PREFIX)}
    extra = {k[len(ATTR_PREFIX) :]: v for k, v in fields.items() if k.startswith(ATTR_PREFIX)}
    if not extra:
        return out
    base = out.get("attributes")
    if isinstance(base, str):
        try:
            base = json.loads(base) if base.strip() else None
        except ValueError:
            return out  # the validator reports the broken JSON
    out["attributes"] = {**base, **extra} if isinstance(base, dict) else extra if base is None else base
    return out


def _validate(
    model: type[SearchParams], query: Mapping[str, Any], body: Mapping[str, Any], where: str
) -> Any:
    """Validate the merged parameters; errors name the field and where it came from. A field given
    both in the query string and in the body is refused: one of the two would be silently ignored
    (a bad ``price_max`` in the query was, when the body repeated it)."""
    query, body = fold_attributes(query), fold_attributes(body)
    twice = sorted(set(query) & set(body) - {"attributes"})
    if twice:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", name),
                    "msg": f"given both in the query string and in the {where}; send it once",
                    "type": "duplicate_parameter",
                }
                for name in twice
            ]
        )
    merged = {**query, **body}
    if isinstance(query.get("attributes"), dict) and isinstance(body.get("attributes"), dict):
        merged["attributes"] = {**query["attributes"], **body["attributes"]}
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False):
            loc = tuple(err.get("loc", ()))
            origin = "query" if loc and loc[0] in query and loc[0] not in body else where
            err = {**err, "loc": (origin, *loc)}
            err.pop("ctx", None)
            errors.append(err)
        raise RequestValidationError(errors) from exc


async def parse_multipart(request: Request, max_image_bytes: int, query: dict[str, Any]) -> SearchInput:
    limit = max_image_bytes + FIELD_BYTES
    declared_length(request, limit)
    parser = MultiPartParser(
        request.headers, capped_stream(request, limit), max_files=1, max_fields=32, max_part_size=FIELD_BYTES
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise MalformedBodyError(f"multipart body could not be parsed: {exc.message}") from exc
    try:
        upload = form.get("image")
        fields = _raw_fields([(k, v) for k, v in form.multi_items() if isinstance(v, str) and k != "image"])
        files = sorted({k for k, v in form.multi_items() if not isinstance(v, str)} - {"image"})
        if files:
            raise InvalidParameterError(
                f"unexpected file field(s) {files}: send the image as the 'image' field"
            )
        image_url = fields.pop("image_url", None)
        image_b64 = fields.pop("image_base64", None)
        params = _validate(SearchParams, query, fields, "body")
        if isinstance(upload, UploadFile):
            return SearchInput(params, await upload.read(), None, upload.filename or "upload")
        if isinstance(upload, str):
            raise InvalidParameterError(
                "the 'image' field must be a file part (with a filename), not a text field"
            )
        if isinstance(image_url, str):
            return SearchInput(params, None, image_url, image_url)
        if isinstance(image_b64, str):
            return SearchInput(params, decode_base64(image_b64), None, "image_base64")
        if params.q:
            return SearchInput(params, None, None, "q")
        raise InvalidParameterError(
            "the multipart body has no 'image' file field (nor q, to search by words)"
        )
    finally:
        await form.close()


async def parse_json(request: Request, max_image_bytes: int, query: dict[str, Any]) -> SearchInput:
    limit = (max_image_bytes + 2) // 3 * 4 + FIELD_BYTES
    body = await read_capped(request, limit)
    if not body.strip():
        raise MalformedBodyError("empty body: expected a JSON object with image_base64 or image_url")
    try:
        payload = await run_in_threadpool(json.loads, body)  # megabytes of base64: keep the loop free
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedBodyError(f"body is not valid JSON ({exc})") from exc
    if not isinstance(payload, dict):
        raise MalformedBodyError(f"JSON body must be an object, got {type(payload).__name__}")
    parsed: SearchJson = _validate(SearchJson, query, payload, "body")
    if parsed.image_url is not None:
        return SearchInput(parsed, None, parsed.image_url, parsed.image_url)
    if parsed.image_base64 is None:
        return SearchInput(parsed, None, None, "q")  # words alone (the validator saw q)
    return SearchInput(
        parsed, await run_in_threadpool(decode_base64, parsed.image_base64), None, "image_base64"
    )


async def parse_raw(request: Request, max_image_bytes: int, query: dict[str, Any]) -> SearchInput:
    params = _validate(SearchParams, query, {}, "query")
    return SearchInput(params, await read_capped(request, max_image_bytes), None, "body")


async def parse_search_request(request: Request, max_image_bytes: int) -> SearchInput:
    """Dispatch on Content-Type; every failure is a ClientError or a validation error, never a 500."""
    query = _raw_fields(list(request.query_params.multi_items()))
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";")[0].strip().lower()
    if media == "multipart/form-data":
        return await parse_multipart(request, max_image_bytes, query)
    if media == "application/json" or media.endswith("+json"):
        return await parse_json(request, max_image_bytes, query)
    if media.startswith("image/") or media == "application/octet-stream":
        return await parse_raw(request, max_image_bytes, query)
    if not media:
        raise UnsupportedMediaTypeError(f"missing Content-Type; send {ACCEPTED_TYPES}")
    raise UnsupportedMediaTypeError(f"Content-Type {media!r} is not accepted; send {ACCEPTED_TYPES}")


__all__ = ["SearchInput", "decode_base64", "parse_search_request"]
