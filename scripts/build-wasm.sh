#!/usr/bin/env bash
# Builds the Rust core to wasm32 and generates pkg/ (wasm-bindgen --target web), then shrinks it
# with wasm-opt. Installs what it needs (the wasm32 target, the wasm-bindgen CLI matching
# Cargo.lock) into folders the build owns and reuses them on the next run.
#
# `build-wasm.sh compile` stops after the cargo build: the steps that need neither Node nor
# node_modules, which scripts/setup.sh runs beside `npm ci` on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}

rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || rustup target add wasm32-unknown-unknown

version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
tools=".tools/wasm-bindgen-$version"
if [ ! -x "$tools/bin/wasm-bindgen" ]; then
  echo "Installing wasm-bindgen-cli $version into $tools (once; about 2 minutes)..."
  # Not --locked: the CLI's own lockfile pins a webpki-roots that no longer resolves.
  cargo install wasm-bindgen-cli --version "$version" --root "$tools" --quiet
fi

cargo build --lib --release --target wasm32-unknown-unknown --quiet
[ "$mode" = compile ] && exit 0
built=target/wasm32-unknown-unknown/release/chat_state_cloudflare_do.wasm
stamp="$(sha256sum "$built" | cut -d' ' -f1) $version"
if [ -f pkg/.build-stamp ] && [ "$(cat pkg/.build-stamp)" = "$stamp" ]; then
  exit 0 # pkg/ is already the output of this exact build
fi
rm -rf pkg
"$tools/bin/wasm-bindgen" --target web --out-dir pkg --out-name chat_state \
  "$built"

wasm_opt=node_modules/.bin/wasm-opt
if [ -x "$wasm_opt" ]; then
  "$wasm_opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals pkg/chat_state_bg.wasm -o pkg/chat_state_bg.wasm
fi
echo "$stamp" > pkg/.build-stamp
raw=$(wc -c < pkg/chat_state_bg.wasm)
gz=$(gzip -9 -c pkg/chat_state_bg.wasm | wc -c)
echo "pkg/chat_state_bg.wasm: $raw bytes raw, $gz bytes gzip"
