"""lookalike demo: make a real screenshot query from a catalog photo, then ask a running server.

The query is a catalog item's photo transformed (crop, scale, rotation, colour, blur, JPEG)
and pasted into a phone-sized screenshot with UI chrome and photos that are not in the
catalog, so the demo shows search as a shopper would use it, and says whether it worked.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Annotated

import httpx
import typer
from PIL import Image

from cli.options import group

demo_app = group("The demo client: make a screenshot query from the demo catalog, then ask a running server.")


@demo_app.command("make-query")
def make_query(
    manifest: Annotated[Path, typer.Option(metavar="PATH", help="The demo catalog manifest (CSV).")],
    images_root: Annotated[
        Path, typer.Option(metavar="PATH", help="Folder the manifest's image paths are relative to.")
    ],
    out: Annotated[
        Path, typer.Option(metavar="PATH", help="Where to write the query JPEG (and a .json beside it).")
    ],
    seed: Annotated[
        int, typer.Option(metavar="N", help="Which item and layout (same seed, same query).")
    ] = 7,
) -> None:
    """Compose one screenshot holding one catalog item and two photos from outside the catalog."""
    from evaluation.synth.screenshot import compose_screenshot

    with manifest.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if (images_root / r["image"]).is_file()]
    listed = {r["image"] for r in rows}
    outsiders = sorted(p.name for p in images_root.glob("*.jpg") if p.name not in listed)
    rng = random.Random(seed)
    item = rng.choice(rows)
    product = Image.open(images_root / item["image"]).convert("RGB")
    distractors = [Image.open(images_root / name).convert("RGB") for name in rng.sample(outsiders, 2)]
    shot, boxes = compose_screenshot([product], rng, distractors=distractors)
    out.parent.mkdir(parents=True, exist_ok=True)
    shot.save(out, "JPEG", quality=85)
    truth = {"item_id": item["item_id"], "title": item.get("title"), "box": boxes[0].as_list()}
    out.with_suffix(".json").write_text(json.dumps(truth, indent=2))
    typer.echo(f"query {out}: a screenshot holding item {item['item_id']} ({item.get('title')})")


@demo_app.command("ask")
def ask(
    query: Annotated[Path, typer.Option(metavar="PATH", help="The query image.")],
    url: Annotated[str, typer.Option(metavar="URL", help="The server.")] = "http://127.0.0.1:8000",
    catalog: Annotated[str, typer.Option(metavar="TEXT", help="Catalog to search.")] = "demo",
    k: Annotated[int, typer.Option(metavar="N", help="Matches per region.")] = 5,
) -> None:
    """POST the screenshot to /v1/search, print the matches, and check the expected item is in the top k."""
    with query.open("rb") as f:
        response = httpx.post(
            f"{url}/v1/search",
            files={"image": (query.name, f, "image/jpeg")},
            data={"catalog": catalog, "k": str(k)},
            timeout=120,
        )
    if response.status_code != 200:
        typer.echo(f"search failed: HTTP {response.status_code}: {response.text}", err=True)
        raise typer.Exit(1)
    body = response.json()
    truth_path = query.with_suffix(".json")
    expected = json.loads(truth_path.read_text())["item_id"] if truth_path.is_file() else None
    found_at: int | None = None
    for n, region in enumerate(body["regions"], 1):
        box = ", ".join(f"{v:.0f}" for v in region["box"])
        typer.echo(f"region {n}: box [{box}] detector score {region['score']:.2f}")
        for rank, m in enumerate(region["matches"], 1):
            mark = "  <== the item in the screenshot" if m["item_id"] == expected else ""
            if m["item_id"] == expected and found_at is None:
                found_at = rank
            typer.echo(
                f"  {rank}. {m['item_id']}  {m['title']}  {m['price']} {m['currency']}"
                f"  score {m['score']:.3f}{mark}"
            )
    timings = ", ".join(f"{k}={v:.0f}ms" for k, v in body.get("timings_ms", {}).items())
    typer.echo(f"index {body['index_version']}; {timings}")
    if expected is not None:
        if found_at is None:
            typer.echo(f"expected item {expected} is NOT in the top {k}", err=True)
            raise typer.Exit(1)
        typer.echo(f"OK: the screenshot's item {expected} is match #{found_at} of its region")


if __name__ == "__main__":
    demo_app()
