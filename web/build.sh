#!/usr/bin/env bash
# Builds the browser demo into web/dist/ (one command; run from anywhere):
#
#   bash web/build.sh            # then: python3 -m http.server -d web/dist 8000
#
# Steps: the wasm32 target and the wasm-bindgen CLI at exactly the version the crate pins (both
# installed if missing), two release builds of rewardkit-web for wasm32-unknown-unknown — the
# panels without training (`dist/pkg/`, budget 1 MiB) and, with the feature `training`, the
# live-training panel's module (`dist/pkg-train/`, loaded on demand) — their JS bindings and the
# static page.
set -euo pipefail
cd "$(dirname "$0")/.."

# The CLI must match the wasm-bindgen library version in Cargo.lock exactly.
WB_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
BUDGET_BYTES=$((1024 * 1024))
OUT=web/dist

if ! rustup target list --installed 2>/dev/null | grep -x wasm32-unknown-unknown >/dev/null; then
  rustup target add wasm32-unknown-unknown
fi
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WB_VERSION" ]; then
  echo "installing wasm-bindgen-cli $WB_VERSION (a few minutes, once)"
  # No --locked: the registry mirror can lag the CLI's own lockfile (see the toolchain notes).
  cargo install wasm-bindgen-cli --version "$WB_VERSION"
fi

# 1. The panels without training: the page's own module, under the size budget.
cargo build -p rewardkit-web --lib --target wasm32-unknown-unknown --release
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
BUILT="$TARGET_DIR/wasm32-unknown-unknown/release/rewardkit_web.wasm"

rm -rf "$OUT"
mkdir -p "$OUT"
cp -R web/www/. "$OUT/"
wasm-bindgen --target web --no-typescript --out-dir "$OUT/pkg" "$BUILT"

# 2. The live-training panel's module (feature `training`: the trainer's library, single-threaded):
# a second .wasm that the page imports only when the training panel starts.
cargo build -p rewardkit-web --lib --target wasm32-unknown-unknown --release --features training
wasm-bindgen --target web --no-typescript --out-dir "$OUT/pkg-train" "$BUILT"

WASM="$OUT/pkg/rewardkit_web_bg.wasm"
SIZE=$(wc -c < "$WASM")
TRAIN_SIZE=$(wc -c < "$OUT/pkg-train/rewardkit_web_bg.wasm")
echo "wasm: $WASM $SIZE bytes ($((SIZE / 1024)) KiB; budget $((BUDGET_BYTES / 1024)) KiB)"
echo "wasm (training panel, loaded on demand): $OUT/pkg-train/rewardkit_web_bg.wasm $TRAIN_SIZE bytes ($((TRAIN_SIZE / 1024)) KiB)"
if [ "$SIZE" -ge "$BUDGET_BYTES" ]; then
  echo "error: the .wasm is over the 1 MiB budget" >&2
  exit 1
fi
echo "built $OUT/ — serve it with: python3 -m http.server -d $OUT 8000 (then open http://127.0.0.1:8000)"
