#!/usr/bin/env bash
# `make eval`: build the benchmarks from ../shared (seeded, reproducible) and run
#   a) grocery, b) clothing-screenshots with the default detector, c) the same queries whole-image,
#   d) clothing-grids (6 to 12 cards a screen), e) people-posts (garments worn by people).
set -euo pipefail
PY=${PY:-.venv/bin/python}
lookalike() { "$PY" -m cli.main "$@"; }
SHARED=${SHARED:-../shared}
BENCH=${BENCH:-var/benchmarks}
OUT=${OUT:-var/eval}
[ -f "$BENCH/grocery/queries.jsonl" ] || "$PY" -m evaluation.datasets.grocery --grocery-dir "$SHARED/data/grocery" --out "$BENCH/grocery"
[ -f "$BENCH/clothing-screenshots/queries.jsonl" ] || \
  "$PY" -m evaluation.datasets.clothing_screenshots --clothing-dir "$SHARED/data/clothing" --out "$BENCH/clothing-screenshots"
[ -f "$BENCH/clothing-grids/queries.jsonl" ] || "$PY" -m evaluation.datasets.clothing_screenshots \
  --clothing-dir "$SHARED/data/clothing" --layout grid --out "$BENCH/clothing-grids"
[ -f "$BENCH/people-posts/queries.jsonl" ] || "$PY" -m evaluation.datasets.people_posts \
  --people-dir "$SHARED/data/people" --clothing-dir "$SHARED/data/clothing" --out "$BENCH/people-posts"
lookalike eval "$BENCH/grocery" --no-progress --out "$OUT/grocery"
lookalike eval "$BENCH/clothing-screenshots" --no-progress --out "$OUT/clothing-screenshots"
lookalike eval "$BENCH/clothing-screenshots" --detector none --no-progress --out "$OUT/clothing-screenshots-whole-image"
lookalike eval "$BENCH/clothing-grids" --no-progress --out "$OUT/clothing-grids"
lookalike eval "$BENCH/people-posts" --no-progress --out "$OUT/people-posts"
echo "reports: $OUT/*/report.md"
