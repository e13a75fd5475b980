"""Hostile shapes and formats against an ordinary screenshot, in one run (issue 16's goal: at most
3x the p50 of a normal screenshot for anything of a phone screenshot's size or smaller, 10x for
the largest image the limits allow).

    python -m bench.hostile --data-dir /tmp/hostile-soak --out bench/results/hostile.json

Needs a catalog "demo" in --data-dir (``python -m bench.soak`` builds one). Each case runs the
request's whole compute in process: decode with the API's limits, then the search (default
detector and embedder), median of --repeats.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from bench.soak import cpu_model
from lookalike.errors import ClientError
from lookalike.imaging import decode_image
from lookalike.settings import Settings
from service.runtime import Runtime
from service.search import SearchRequest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clothing" / "images"


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def screenshot(w: int = 1080, h: int = 2340) -> Image.Image:
    shot = Image.new("RGB", (w, h), (240, 240, 240))
    photo = Image.open(sorted(SHARED.glob("*.jpg"))[0]).convert("RGB")
    shot.paste(photo.resize((min(900, w), min(1200, h))), (0, 0))
    return shot


def cases() -> dict[str, Callable[[], bytes]]:
    shot = screenshot()
    noise = Image.effect_noise((1080, 2340), 60).convert("RGB")
    gif_frames = [shot.convert("P")] + [shot.rotate(90 * i).convert("P") for i in range(1, 8)]

    def gif() -> bytes:
        buf = io.BytesIO()
        gif_frames[0].save(buf, "GIF", save_all=True, append_images=gif_frames[1:], duration=10)
        return buf.getvalue()

    return {
        "normal 1080x2340 JPEG": lambda: encode(shot, "JPEG", quality=85),
        "noise 1080x2340 PNG": lambda: encode(noise, "PNG"),
        "16-bit PNG 1080x2340": lambda: encode(
            Image.fromarray(np.asarray(shot.convert("L"), dtype=np.uint16) * 257), "PNG"
        ),
        "CMYK JPEG 1080x2340": lambda: encode(shot.convert("CMYK"), "JPEG", quality=85),
        "CMYK TIFF 1080x2340": lambda: encode(shot.convert("CMYK"), "TIFF"),
        "8-frame GIF 1080x2340": gif,
        "long 1080x14800 PNG (14:1, 16 Mpx)": lambda: encode(screenshot(1080, 14800), "PNG"),
        "thin 2200x45 PNG (49:1)": lambda: encode(Image.new("RGB", (2200, 45), (9, 9, 9)), "PNG"),
        "tiny 2x90 PNG (45:1)": lambda: encode(Image.new("RGB", (2, 90), (9, 9, 9)), "PNG"),
        "refused 60000x2 PNG": lambda: encode(Image.new("RGB", (60000, 2), (200, 30, 30)), "PNG"),
        "largest allowed 7700x5190 JPEG (40 Mpx)": lambda: encode(screenshot(7700, 5190), "JPEG", quality=85),
        "largest allowed 4890x3270 PNG (16 Mpx)": lambda: encode(screenshot(4890, 3270), "PNG"),
        "refused 7700x5190 PNG (40 Mpx)": lambda: encode(screenshot(7700, 5190), "PNG"),
    }


def timed(runtime: Runtime, data: bytes, k: int) -> tuple[float, str, float]:
    """Wall seconds, the answer, and CPU seconds of this process (every thread: the models' pools
    too): on a shared, oversubscribed box the CPU time is the cost; the wall time adds the wait."""
    api = runtime.settings.api
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        image = decode_image(
            data,
            max_bytes=api.max_upload_bytes,
            max_pixels=api.max_pixels,
            max_aspect_ratio=api.max_aspect_ratio,
            draft_long_side=api.decode_long_side or None,
            max_full_decode_pixels=api.max_pixels_full_decode,
        )
        runtime.search.search(image, SearchRequest(catalog="demo", k=k))
        outcome = "200"
    except ClientError as exc:
        outcome = f"{exc.status}"
    return time.perf_counter() - start, outcome, time.process_time() - cpu_start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", type=Path, default=Path("var/soak"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("bench/results/hostile.json"))
    args = ap.parse_args()
    runtime = Runtime(Settings(data_dir=args.data_dir))
    bodies = {name: make() for name, make in cases().items()}
    timed(runtime, bodies["normal 1080x2340 JPEG"], 3)  # warm: models, index
    rows = {}
    for name, body in bodies.items():
        runs = [timed(runtime, body, 5 + i) for i in range(args.repeats)]
        rows[name] = {
            "bytes": len(body),
            "status": runs[0][1],
            "p50_ms": round(1000 * statistics.median(t for t, _, _ in runs), 1),
            "cpu_p50_ms": round(1000 * statistics.median(c for _, _, c in runs), 1),
        }
    base = rows["normal 1080x2340 JPEG"]["p50_ms"]
    cpu_base = rows["normal 1080x2340 JPEG"]["cpu_p50_ms"]
    for row in rows.values():
        row["x_normal_p50"] = round(float(row["p50_ms"]) / float(base), 2)
        row["cpu_x_normal_p50"] = round(float(row["cpu_p50_ms"]) / float(cpu_base), 2)
        print(json.dumps(row), flush=True)
    report = {
        "cpu": cpu_model(),
        "command": "python -m bench.hostile",
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "cases": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    for name, row in rows.items():
        print(
            f"{name:42s} {row['status']:>4s} {row['p50_ms']:8.1f} ms {row['x_normal_p50']:6.2f}x  "
            f"cpu {row['cpu_p50_ms']:8.1f} ms {row['cpu_x_normal_p50']:6.2f}x"
        )


if __name__ == "__main__":
    main()
