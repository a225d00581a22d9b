#!/usr/bin/env bash
# `make test`: every test, against a Temporal dev server and a PostgreSQL of their own, so they
# never touch the data of `make dev`. Each test makes its own database and task queue.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TEST_PG_PORT="${DJINN_TEST_PG_PORT:-54329}"
TEST_TEMPORAL_PORT="${DJINN_TEST_TEMPORAL_PORT:-17233}"
TEST_TEMPORAL_UI_PORT="${DJINN_TEST_TEMPORAL_UI_PORT:-18233}"

mkdir -p "$DATA_DIR"
trap stop_started EXIT INT TERM

if [[ -n "${DJINN_TEST_DATABASE_URL:-}" ]]; then
  admin_url="$DJINN_TEST_DATABASE_URL"
else
  # A throwaway cluster: recreated each run, without fsync since nothing in it must survive.
  rm -rf "$DATA_DIR/test-pg"
  admin_url="$(DJINN_PG_FSYNC=off start_private_postgres "$DATA_DIR/test-pg" "$TEST_PG_PORT" djinn_test)"
fi
start_temporal "$TEST_TEMPORAL_PORT" "$TEST_TEMPORAL_UI_PORT"

export DJINN_TEST_DATABASE_URL="$admin_url"
export TEMPORAL_ADDRESS="127.0.0.1:$TEST_TEMPORAL_PORT"
export TEMPORAL_NAMESPACE=default
export SQLX_OFFLINE=true

cd "$ROOT"
cargo build --workspace --bins
log "running tests (Postgres: $admin_url, Temporal: $TEMPORAL_ADDRESS)"
cargo test --workspace "$@"
