#!/usr/bin/env bash
# `make test`: every test, against a Temporal dev server and a PostgreSQL of their own, so they
# never touch the data of `make dev`. Each test makes its own database and task queue.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TEST_PG_PORT="${DJINN_TEST_PG_PORT:-54329}"
TEST_TEMPORAL_PORT="${DJINN_TEST_TEMPORAL_PORT:-17233}"
TEST_TEMPORAL_UI_PORT="${DJINN_TEST_TEMPORAL_UI_PORT:-18233}"

mkdir -p "$DATA_DIR"
temporary_dir=""
cleanup() {
  stop_started
  if [[ -n "$temporary_dir" ]]; then rm -rf "$temporary_dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n "${DJINN_TEST_DATABASE_URL:-}" ]]; then
  admin_url="$DJINN_TEST_DATABASE_URL"
else
  # A throwaway cluster: recreated each run, without fsync since nothing in it must survive.
  # As root the cluster belongs to `postgres`, which may not reach a checkout under a private
  # home directory, so it lives in a temporary directory instead.
  if [[ "$(id -u)" == 0 ]]; then
    temporary_dir="$(mktemp -d "${TMPDIR:-/tmp}/djinn-test-pg.XXXXXX")"
    chmod 755 "$temporary_dir"
    test_pg_dir="$temporary_dir/data"
  else
    test_pg_dir="$DATA_DIR/test-pg"
    rm -rf "$test_pg_dir"
  fi
  DJINN_PG_FSYNC=off start_private_postgres "$test_pg_dir" "$TEST_PG_PORT" djinn_test
  admin_url="$PRIVATE_DATABASE_URL"
fi
start_temporal "$TEST_TEMPORAL_PORT" "$TEST_TEMPORAL_UI_PORT"

export DJINN_TEST_DATABASE_URL="$admin_url"
export TEMPORAL_ADDRESS="127.0.0.1:$TEST_TEMPORAL_PORT"
export TEMPORAL_NAMESPACE=default
export SQLX_OFFLINE=true

cd "$ROOT"
cargo build --workspace --bins
log "running tests (Postgres: $admin_url, Temporal: $TEMPORAL_ADDRESS)"
cargo test --workspace --no-fail-fast "$@"
