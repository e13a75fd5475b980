"""Manifests that cannot be read, the demo clothing manifest with its upstream defects, the CLI."""

from __future__ import annotations

import csv
import json
import re
import shutil
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from catalog_ingest import ingest_manifest
from catalog_ingest.datasets.clothing import derived_price, write_clothing_manifest
from catalog_ingest.manifest import read_manifest
from cli.ingest import ingest
from lookalike.errors import InvalidParameterError, ManifestError
from lookalike.settings import IngestSettings
from tests.conftest import RuntimeFactory
from tests.images import clothing_photos


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("absent.csv", None, r"absent\.csv: no such manifest file"),
        ("m.xlsx", "item_id,image\n", r"m\.xlsx: unknown manifest type '\.xlsx'"),
        ("m.csv", "", r"m\.csv: empty file, expected a header line"),
        (
            "m.csv",
            "item_id,picture\na,b.jpg\n",
            r"m\.csv: line 1: missing required column\(s\) image; found item_id, picture",
        ),
        ("m.csv", b"item_id,image\na,b.jpg\n\xff\xfe,c.jpg\n", r"m\.csv: line 3: not UTF-8 text"),
        ("m.jsonl", "this is not json\nneither is this\n", r"m\.jsonl: line 1: not a JSON Lines manifest"),
        (
            "m.jsonl",
            '{"id": "a", "image": "a.jpg"}\n',
            r"m\.jsonl: no row has missing required column\(s\) item_id",
        ),
        ("m.parquet", b"PAR1 garbage", r"m\.parquet: unreadable Parquet file"),
    ],
)
def test_unreadable_manifests_name_the_file_and_line(
    tmp_path: Path, name: str, content: str | bytes | None, message: str
) -> None:
    path = tmp_path / name if content is None else write(tmp_path / name, content)
    with pytest.raises(ManifestError, match=message):
        read_manifest(path)


def test_bad_lines_are_rows_to_reject_not_fatal(tmp_path: Path) -> None:
    rows = read_manifest(write(tmp_path / "m.jsonl", '{"item_id": "a", "image": "a.jpg"}\n\n[1, 2]\n{oops\n'))
    assert [(r.number, r.error) for r in rows] == [
        (1, None),
        (3, "expected a JSON object, got list"),
        (4, "invalid JSON (Expecting property name enclosed in double quotes at column 2)"),
    ]
    rows = read_manifest(
        write(tmp_path / "m.csv", 'item_id,image,title\na,a.jpg,"two\nlines"\n\nb,b.jpg,x,extra\n')
    )
    assert [(r.number, r.values.get("title"), r.error) for r in rows] == [
        (2, "two\nlines", None),
        (5, None, "4 values but the header names 3 columns"),
    ]


def test_row_level_problems_are_rejected_with_reasons(make_runtime: RuntimeFactory, tmp_path: Path) -> None:
    photo = clothing_photos(1)[0]
    shutil.copy(photo, tmp_path / "ok.jpg")
    manifest = write(
        tmp_path / "m.csv",
        "item_id,image,price\n"
        "a,ok.jpg,12.5\n"
        "b,ok.jpg,cheap\n"
        "c,,1\n"
        "d,ftp://host/x.jpg,1\n"
        f"e,{(tmp_path / 'ok.jpg').as_uri()},-3\n"
        f"f,{(tmp_path / 'ok.jpg').as_uri()},3\n",
    )
    runtime = make_runtime(ingest=IngestSettings(max_pixels=10_000))  # the clothing photos are ~320x240
    report = ingest_manifest(runtime.ingest_parts(), manifest, "shop", validate_only=True, progress=False)
    too_big = (
        f"{(tmp_path / 'ok.jpg').resolve()}: {pixels_of(photo)} pixels is over the limit of 10000 pixels"
    )
    assert [(r.row, r.item_id, r.reason) for r in report.rejects] == [
        (2, "a", too_big),
        (3, "b", "price 'cheap' is not a number"),
        (4, "c", "missing image"),
        (5, "d", "unsupported image URL scheme 'ftp' (use a path, file:// or http(s)://)"),
        (6, "e", "price '-3' must be a finite number >= 0"),
        (7, "f", too_big),  # the same bytes through a file:// URL: decoded once, rejected again
    ]


def pixels_of(path: Path) -> str:
    from PIL import Image

    with Image.open(path) as img:
        return f"{img.width}x{img.height} = {img.width * img.height}"


def test_catalog_names_must_be_safe(make_runtime: RuntimeFactory, tmp_path: Path) -> None:
    manifest = write(tmp_path / "m.csv", "item_id,image\n")
    with pytest.raises(InvalidParameterError, match=r"catalog name '\.\./etc'"):
        ingest_manifest(make_runtime().ingest_parts(), manifest, "../etc", progress=False)


def test_clothing_manifest_derives_demo_metadata(clothing_dir: Path, tmp_path: Path) -> None:
    path = write_clothing_manifest(clothing_dir, tmp_path / "demo.csv", limit=3)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    with (clothing_dir / "images.csv").open(newline="") as f:
        upstream = next(csv.DictReader(f))
    first = rows[0]
    assert len(rows) == 3
    assert first["item_id"] == upstream["image"] and first["image"] == f"{upstream['image']}.jpg"
    assert first["category"] == upstream["label"] and first["brand"] == f"Seller {upstream['sender_id']}"
    assert re.fullmatch(r".+ [0-9a-f]{6}", first["title"]) and first["title"].endswith(upstream["image"][:6])
    assert first["currency"] == "EUR" and first["kids"] == upstream["kids"]
    assert all(9.99 <= float(r["price"]) <= 149.99 for r in rows)
    assert float(first["price"]) == derived_price(first["item_id"]) == derived_price(first["item_id"])
    only = write_clothing_manifest(clothing_dir, tmp_path / "two.csv", item_ids={rows[2]["item_id"], "nope"})
    assert [r["item_id"] for r in csv.DictReader(only.open(newline=""))] == [rows[2]["item_id"]]


def test_the_full_demo_data_reports_its_upstream_defects(
    make_runtime: RuntimeFactory, clothing_dir: Path, tmp_path: Path
) -> None:
    manifest = write_clothing_manifest(clothing_dir, tmp_path / "demo.csv")
    started = time.perf_counter()
    report = ingest_manifest(
        make_runtime().ingest_parts(),
        manifest,
        "demo",
        images_root=clothing_dir / "images",
        validate_only=True,
        progress=False,
    )
    elapsed = time.perf_counter() - started
    assert report.rows == 5403
    assert report.skipped == 5
    assert all(r.reason.startswith("image file not found: ") for r in report.rejects)
    assert len(report.unreferenced_images) == 358
    line = next(line for line in report.summary().splitlines() if "unreferenced" in line)
    assert "358 image files" in line and "355 more" in line and len(line) < 300, "a summary, not 358 names"
    assert report.unreferenced_path is not None
    assert len(report.unreferenced_path.read_text().splitlines()) == 358
    assert report.loaded_items == 5398 and report.loaded_images + report.duplicates == 5398
    print(f"validated {report.rows} rows in {elapsed:.1f} s")


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(ingest)
    return app


def test_cli_prints_the_report_and_exits_zero_with_rejects(tmp_path: Path) -> None:
    shutil.copy(clothing_photos(1)[0], tmp_path / "ok.jpg")
    manifest = write(
        tmp_path / "m.jsonl",
        json.dumps({"item_id": "a", "image": "ok.jpg"})
        + "\n"
        + json.dumps({"item_id": "b", "image": "gone.jpg"})
        + "\n",
    )
    config = write(tmp_path / "lookalike.toml", f'data_dir = "{tmp_path / "var"}"\n')

    result = CliRunner().invoke(
        cli(),
        [str(manifest), "--catalog", "shop", "--config", str(config), "--validate-only", "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    assert "catalog 'shop': 2 rows read" in result.output
    assert "rejected: 1 rows" in result.output
    assert f"line 2: b gone.jpg: image file not found: {tmp_path / 'gone.jpg'}" in result.output
    assert (tmp_path / "var" / "reports" / "shop-rejects.csv").is_file()

    bad = write(tmp_path / "bad.csv", "sku,picture\n")
    result = CliRunner().invoke(cli(), [str(bad), "--config", str(config), "--no-progress"])
    assert result.exit_code == 2
    assert "error: " in result.output and "missing required column(s) item_id, image" in result.output
