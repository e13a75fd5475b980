#!/usr/bin/env bash
# Fetch the public CC0 clothing dataset (github alexeygrigorev/clothing-dataset) when the
# shared copy beside the checkout is absent. Writes $CLOTHING_DIR/{images/,images.csv}.
set -euo pipefail
CLOTHING_DIR=${CLOTHING_DIR:-var/clothing-dataset}
COMMIT=7ed86a9c
if [ -f "$CLOTHING_DIR/images.csv" ]; then exit 0; fi
tmp=$(mktemp -d)
git clone --quiet https://github.com/alexeygrigorev/clothing-dataset "$tmp/repo"
git -C "$tmp/repo" checkout --quiet "$COMMIT"
mkdir -p "$CLOTHING_DIR"
mv "$tmp/repo/images" "$tmp/repo/images.csv" "$CLOTHING_DIR/"
rm -rf "$tmp"
echo "clothing dataset at $CLOTHING_DIR"
