#!/usr/bin/env bash
# `make audit`: cargo-deny over the dependency tree (advisories, licenses, bans, sources; the
# policy is deny.toml), offline. No network reaches the RustSec advisory database here, so it
# scans against a snapshot (DJINN_ADVISORY_DB, by default ../shared/advisory-db), which
# cargo-deny wants as a git checkout under its db path: one is made in a temporary directory.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CARGO_DENY_VERSION="0.20.2"
CARGO_DENY="$TOOLS_DIR/cargo-deny/bin/cargo-deny"
# The snapshot: DJINN_ADVISORY_DB, else shared/advisory-db beside this checkout, else beside
# the repository it was cloned from (CI works in a clone).
advisory_db() {
  local origin candidate
  origin="$(git -C "$ROOT" config --get remote.origin.url 2>/dev/null || true)"
  for candidate in "${DJINN_ADVISORY_DB:-}" "$ROOT/../shared/advisory-db" \
                   "${origin:+$(dirname "$origin")/shared/advisory-db}"; do
    if [[ -n "$candidate" && -d "$candidate/crates" ]]; then
      (cd "$candidate" && pwd)
      return
    fi
  done
}
ADVISORY_DB="$(advisory_db)"
# Where cargo-deny looks for its default database (the RustSec URL's hashed folder name).
ADVISORY_DB_FOLDER="advisory-db-3157b0e258782691"

if [[ ! -x "$CARGO_DENY" ]] || ! "$CARGO_DENY" --version | grep -q "$CARGO_DENY_VERSION"; then
  log "installing cargo-deny $CARGO_DENY_VERSION into $TOOLS_DIR/cargo-deny (a few minutes, once)"
  cargo install --quiet --locked cargo-deny --version "$CARGO_DENY_VERSION" --root "$TOOLS_DIR/cargo-deny"
fi
if [[ -z "$ADVISORY_DB" ]]; then
  log "no advisory database snapshot found (set DJINN_ADVISORY_DB to a copy of RustSec's advisory-db)"
  exit 3
fi

trap stop_started EXIT
dbs="$(mktemp -d "${TMPDIR:-/tmp}/djinn-advisory-dbs.XXXXXX")"
TEMPORARY_DIRS+=("$dbs")
cp -r "$ADVISORY_DB" "$dbs/$ADVISORY_DB_FOLDER"
(
  cd "$dbs/$ADVISORY_DB_FOLDER"
  rm -rf .git
  git init --quiet
  git add -A
  GIT_AUTHOR_NAME=djinn GIT_AUTHOR_EMAIL=djinn@localhost GIT_COMMITTER_NAME=djinn \
    GIT_COMMITTER_EMAIL=djinn@localhost git commit --quiet -m "advisory-db snapshot"
)
log "advisory database: $(head -n 1 "$ADVISORY_DB/SNAPSHOT" 2>/dev/null || echo "$ADVISORY_DB")"

cd "$ROOT"
# --offline stops cargo-deny fetching crates too: fetch them first (crates.io is reachable).
cargo fetch --locked --quiet
DJINN_ADVISORY_DB_PATH="$dbs" "$CARGO_DENY" --offline check
