#!/usr/bin/env bash
# `make test`: every test, against a Temporal dev server and a PostgreSQL of their own, so they
# never touch the data of `make dev`. Each test makes its own database and task queue.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TEST_PG_PORT="${DJINN_TEST_PG_PORT:-54329}"
TEST_TEMPORAL_PORT="${DJINN_TEST_TEMPORAL_PORT:-17233}"
TEST_TEMPORAL_UI_PORT="${DJINN_TEST_TEMPORAL_UI_PORT:-18233}"
TEST_POOLER_PORT="${DJINN_TEST_POOLER_PORT:-16432}"

mkdir -p "$DATA_DIR"
trap stop_started EXIT
trap 'exit 130' INT TERM

# A CA and a server certificate made now, so that the private cluster also speaks TLS and a
# test can connect with sslmode=verify-full (tests/tests/tls.rs); plaintext stays allowed.
certificates="$(mktemp -d "${TMPDIR:-/tmp}/djinn-test-tls.XXXXXX")"
TEMPORARY_DIRS+=("$certificates")
make_test_certificates "$certificates"
export DJINN_TEST_TLS_DIR="$certificates"
# pg_stat_statements lets a test count the statements a request made (batched reads).
export DJINN_PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements -c ssl=on -c ssl_cert_file=$certificates/server.pem -c ssl_key_file=$certificates/server.key ${DJINN_PG_OPTIONS:-}"
if [[ -n "${DJINN_TEST_DATABASE_URL:-}" ]]; then
  admin_url="$DJINN_TEST_DATABASE_URL"
else
  start_throwaway_postgres test-pg "$TEST_PG_PORT" djinn_test
  admin_url="$PRIVATE_DATABASE_URL"
fi
start_temporal "$TEST_TEMPORAL_PORT" "$TEST_TEMPORAL_UI_PORT"
# The api and the workers of every test reach PostgreSQL through PgBouncer in transaction
# mode, as in production; the tests' own reads and plants, and migrations, go direct.
admin_port="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.urlsplit(sys.argv[1]).port or 5432)' "$admin_url")"
start_pgbouncer "$TEST_POOLER_PORT" "$admin_port"
export DJINN_TEST_POOLER_URL="$POOLER_URL"

export DJINN_TEST_DATABASE_URL="$admin_url"
export TEMPORAL_ADDRESS="127.0.0.1:$TEST_TEMPORAL_PORT"
export TEMPORAL_NAMESPACE=default
export SQLX_OFFLINE=true
export DJINN_TEMPORAL_CLI="$TEMPORAL"
# Prometheus's promtool checks the metrics a scrape serves and the alerting rules.
export DJINN_PROMTOOL="$(promtool_bin)"
# pg_dump and pg_restore of the same PostgreSQL, for the backup tests.
export DJINN_TEST_PG_BIN_DIR="$(pg_bindir)"

cd "$ROOT"
cargo build --workspace --bins
# The images' binary, for tests/tests/as_the_image_runs.rs: release, --locked, as the
# Dockerfiles build it (minutes the first time, incremental after).
cargo build --release --locked --bin djinn
export DJINN_RELEASE_BIN="$ROOT/target/release/djinn"
log "running tests (Postgres: $admin_url, Temporal: $TEMPORAL_ADDRESS)"
cargo test --workspace --no-fail-fast "$@"
