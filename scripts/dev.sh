#!/usr/bin/env bash
# `make dev`: the whole stack on this machine, without Docker or root. Temporal dev server with
# its Web UI, PostgreSQL (DATABASE_URL or a private cluster in .data/pg), migrations, the nightly
# reconciliation's schedule, the worker and the API. Ctrl-C or SIGTERM stops everything this script started.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEV_PG_PORT="${DJINN_DEV_PG_PORT:-54320}"
DEV_POOLER_PORT="${DJINN_DEV_POOLER_PORT:-54321}"
TEMPORAL_PORT="${DJINN_DEV_TEMPORAL_PORT:-7233}"
TEMPORAL_UI_PORT="${DJINN_DEV_TEMPORAL_UI_PORT:-8233}"
export DJINN_API_ADDR="${DJINN_API_ADDR:-127.0.0.1:8080}"
# Development accepts unsigned Firebase-emulator tokens (see README); production never does.
# Development, explicitly: unset, Djinn runs as production and refuses emulator tokens.
export DJINN_ENV=development
export FIREBASE_AUTH_EMULATOR_HOST="${FIREBASE_AUTH_EMULATOR_HOST:-127.0.0.1:9099}"
export FIREBASE_PROJECT_ID="${FIREBASE_PROJECT_ID:-djinn-dev}"

mkdir -p "$DATA_DIR"
trap 'log "stopping"; stop_started' EXIT
trap 'exit 130' INT TERM

if [[ -z "${DATABASE_URL:-}" ]]; then
  start_private_postgres "$DATA_DIR/pg" "$DEV_PG_PORT" djinn
  # As in production: the api and the worker through PgBouncer in transaction mode, migrations
  # over the direct connection.
  start_pgbouncer "$DEV_POOLER_PORT" "$DEV_PG_PORT"
  DATABASE_MIGRATION_URL="$PRIVATE_DATABASE_URL"
  # Subscriptions LISTEN on a session of their own: direct too.
  DATABASE_LISTEN_URL="$PRIVATE_DATABASE_URL"
  DATABASE_URL="$POOLER_URL/djinn"
  export DATABASE_MIGRATION_URL DATABASE_LISTEN_URL
fi
export DATABASE_URL
export TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-127.0.0.1:$TEMPORAL_PORT}"
export TEMPORAL_NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
# Workflow payloads are encrypted in development too, with a key made once and kept (like the
# histories it opens) in .data. The Web UI decrypts them through the API's codec endpoint.
if [[ -z "${DJINN_CODEC_KEYS:-}" ]]; then
  if [[ ! -f "$DATA_DIR/codec-keys" ]]; then
    (umask 077; new_codec_keys dev > "$DATA_DIR/codec-keys")
  fi
  DJINN_CODEC_KEYS="$(cat "$DATA_DIR/codec-keys")"
fi
export DJINN_CODEC_KEYS
export DJINN_CODEC_CORS_ORIGINS="${DJINN_CODEC_CORS_ORIGINS:-http://127.0.0.1:$TEMPORAL_UI_PORT,http://localhost:$TEMPORAL_UI_PORT}"
if [[ "$TEMPORAL_ADDRESS" == "127.0.0.1:$TEMPORAL_PORT" ]]; then
  start_temporal "$TEMPORAL_PORT" "$TEMPORAL_UI_PORT" "$DATA_DIR/temporal.sqlite" \
    --ui-codec-endpoint "http://$DJINN_API_ADDR/codec"
fi

cd "$ROOT"
cargo build --bin djinn
DJINN="$ROOT/target/debug/djinn"
"$DJINN" migrate
# The nightly reconciliation's Temporal Schedule, created or brought up to date (idempotent).
"$DJINN" schedules apply
"$DJINN" worker &
STARTED_PIDS+=("$!")
"$DJINN" api &
STARTED_PIDS+=("$!")

for attempt in $(seq 1 60); do
  curl -fsS "http://$DJINN_API_ADDR/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done

cat <<TXT

  Djinn is running.
    GraphiQL      http://$DJINN_API_ADDR/graphql
    GraphQL       POST http://$DJINN_API_ADDR/graphql  (Authorization: Bearer <emulator token>)
    Health        http://$DJINN_API_ADDR/healthz
    Temporal UI   http://127.0.0.1:$TEMPORAL_UI_PORT  (payloads decrypted via http://$DJINN_API_ADDR/codec)
    PostgreSQL    $DATABASE_URL${DATABASE_MIGRATION_URL:+ (PgBouncer; direct: $DATABASE_MIGRATION_URL)}
    Schedules     reconciliation-nightly and each recurring transfer's: target/debug/djinn schedules list

  A development token for user "alice": scripts/dev-token.sh alice
  Ctrl-C stops everything.

TXT
wait -n "${STARTED_PIDS[@]}" || true
log "a process exited"
