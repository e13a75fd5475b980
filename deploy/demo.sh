#!/usr/bin/env bash
# Start the server in the background, send one real screenshot query, print the matches.
set -euo pipefail
DATA_DIR=${DATA_DIR:-var}
PORT=${PORT:-8000}
PY=${PY:-.venv/bin/python}
SHARED=${SHARED:-../shared}
IMAGES="$SHARED/data/clothing/images"
[ -d "$IMAGES" ] || IMAGES="$DATA_DIR/clothing-dataset/images"
export LOOKALIKE_DATA_DIR="$DATA_DIR"

if [ -f "$DATA_DIR/server.pid" ] && kill -0 "$(cat "$DATA_DIR/server.pid")" 2>/dev/null; then
  echo "server already running (pid $(cat "$DATA_DIR/server.pid"))"
else
  LOOKALIKE_API__PRELOAD_CATALOGS='["demo"]' nohup "$PY" -m cli.main serve --port "$PORT" \
    >"$DATA_DIR/server.log" 2>&1 &
  echo $! >"$DATA_DIR/server.pid"
fi
echo -n "waiting for the server on port $PORT "
for _ in $(seq 1 180); do
  if curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; then echo " ready"; break; fi
  if ! kill -0 "$(cat "$DATA_DIR/server.pid")" 2>/dev/null; then
    echo; echo "server died; see $DATA_DIR/server.log"; tail -20 "$DATA_DIR/server.log"; exit 1
  fi
  echo -n "."; sleep 1
done
"$PY" -m cli.demo make-query --manifest "$DATA_DIR/demo/catalog.csv" --images-root "$IMAGES" \
  --out "$DATA_DIR/demo/query.jpg"
"$PY" -m cli.demo ask --query "$DATA_DIR/demo/query.jpg" --url "http://127.0.0.1:$PORT"
mkdir -p "$DATA_DIR/examples" && cp "$DATA_DIR/demo/query.jpg" "$DATA_DIR/examples/"  # the page offers it
cat <<MSG

Open the page:  http://127.0.0.1:$PORT/ui/?example=query.jpg   (searches the screenshot above)
The server keeps running at http://127.0.0.1:$PORT (API docs: http://127.0.0.1:$PORT/docs).
Try it:  curl -F image=@$DATA_DIR/demo/query.jpg -F k=5 http://127.0.0.1:$PORT/v1/search
Stop it: make stop        (log: $DATA_DIR/server.log)
MSG
