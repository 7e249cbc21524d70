#!/usr/bin/env bash
# Install the official AsyncAPI parser (npm @asyncapi/parser, pinned in
# scripts/asyncapi-parser/package.json) into .cache/asyncapi-parser (git-ignored), once: a
# later run with the same package.json reuses it. Needs node and npm (Debian: nodejs, npm).
# Prints the folder to run scripts/asyncapi-parser/parse.mjs from.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SRC="$ROOT/scripts/asyncapi-parser"
DEST="$ROOT/.cache/asyncapi-parser"
for tool in node:nodejs npm:npm; do
  command -v "${tool%%:*}" >/dev/null || apt-get install -y -q --no-install-recommends "${tool#*:}" >/dev/null
done
if ! cmp -s "$SRC/package.json" "$DEST/package.json" || [ ! -d "$DEST/node_modules/@asyncapi/parser" ]; then
  mkdir -p "$DEST"
  cp "$SRC/package.json" "$DEST/package.json"
  (cd "$DEST" && npm install --no-audit --no-fund --loglevel=error >&2)
fi
cp "$SRC/parse.mjs" "$DEST/parse.mjs"
echo "$DEST"
