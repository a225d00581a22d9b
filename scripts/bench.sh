#!/usr/bin/env bash
# `make bench`: a release build of the stack on its own ports (a fresh PostgreSQL cluster and a
# Temporal dev server on a fresh SQLite file), then bench/ drives transfers through the GraphQL API and
# no-op workflows through the same server, and prints the figures. Nothing is asserted on time.
# Arguments are passed to the benchmark, e.g. `scripts/bench.sh --transfers 5000`.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BENCH_PG_PORT="${DJINN_BENCH_PG_PORT:-54339}"
BENCH_TEMPORAL_PORT="${DJINN_BENCH_TEMPORAL_PORT:-27233}"
BENCH_TEMPORAL_UI_PORT="${DJINN_BENCH_TEMPORAL_UI_PORT:-28233}"
BENCH_TEMPORAL_METRICS_PORT="${DJINN_BENCH_TEMPORAL_METRICS_PORT:-28234}"
BENCH_API_ADDR="127.0.0.1:${DJINN_BENCH_API_PORT:-18080}"
BENCH_TRACED_API_ADDR="127.0.0.1:${DJINN_BENCH_TRACED_API_PORT:-18081}"
BENCH_OTLP_ADDR="127.0.0.1:${DJINN_BENCH_OTLP_PORT:-18090}"

# DJINN_BENCH_SERVER_CPUS=0 (a comma-separated list of CPUs) gives the Temporal server those
# CPUs to itself and runs everything else (PostgreSQL, the worker, the API, the benchmark) on
# the others: the topology of production, where the server runs on machines of its own. By
# default everything shares every CPU, and the ratio then also measures Djinn's own CPU, which
# competes with the server for the same cores.
SERVER_CPUS="${DJINN_BENCH_SERVER_CPUS:-}"
if [[ -n "$SERVER_CPUS" ]]; then
  other_cpus=()
  for ((cpu = 0; cpu < $(nproc); cpu++)); do
    [[ ",$SERVER_CPUS," == *",$cpu,"* ]] || other_cpus+=("$cpu")
  done
  if [[ ${#other_cpus[@]} == 0 ]]; then
    log "DJINN_BENCH_SERVER_CPUS=$SERVER_CPUS leaves no CPU for the rest"
    exit 1
  fi
  OTHER_CPUS="$(IFS=,; echo "${other_cpus[*]}")"
  # This shell and all it starts from here on (the server too, until it is moved below).
  taskset -p -c "$OTHER_CPUS" $$ >/dev/null
fi

mkdir -p "$DATA_DIR"
trap stop_started EXIT
trap 'exit 130' INT TERM

cd "$ROOT"
log "building the release binaries (a clean build takes several minutes)"
cargo build --release --bin djinn --bin djinn-bench

# DJINN_BENCH_PG_STATS=1 also prints where PostgreSQL spent its time (pg_stat_statements).
if [[ -n "${DJINN_BENCH_PG_STATS:-}" ]]; then
  export DJINN_PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements"
fi
start_throwaway_postgres bench-pg "$BENCH_PG_PORT" djinn_bench
# A fresh SQLite file in WAL mode: the in-memory store slows down as it fills, the file does
# not. Unlike `make dev`'s, it is thrown away, so it skips fsync, as the throwaway PostgreSQL
# cluster does: with synchronous=normal its checkpoints fsync, such an fsync waits behind the
# cluster's writeback, and the server's one shard then stalls for seconds, which would measure
# the disk (docs/BENCHMARKS.md).
export TEMPORAL_SQLITE_SYNCHRONOUS=off
rm -f "$DATA_DIR"/bench-temporal.sqlite*
start_temporal "$BENCH_TEMPORAL_PORT" "$BENCH_TEMPORAL_UI_PORT" "$DATA_DIR/bench-temporal.sqlite" \
  --metrics-port "$BENCH_TEMPORAL_METRICS_PORT"
temporal_pid="${STARTED_PIDS[${#STARTED_PIDS[@]}-1]}"
if [[ -n "$SERVER_CPUS" ]]; then
  # Every thread of the server (and of any child it runs) moves to its own CPUs.
  for pid in "$temporal_pid" $(pgrep -P "$temporal_pid" || true); do
    taskset -a -p -c "$SERVER_CPUS" "$pid" >/dev/null
  done
  log "the Temporal server runs on CPU $SERVER_CPUS; PostgreSQL, the worker, the API and the benchmark on CPU $OTHER_CPUS"
fi

export DATABASE_URL="$PRIVATE_DATABASE_URL"
export TEMPORAL_ADDRESS="127.0.0.1:$BENCH_TEMPORAL_PORT"
export TEMPORAL_NAMESPACE=default
export DJINN_TASK_QUEUE=djinn-bench
export DJINN_API_ADDR="$BENCH_API_ADDR"
export DJINN_ENV=development FIREBASE_AUTH_EMULATOR_HOST=127.0.0.1:9099
export FIREBASE_PROJECT_ID=djinn-test
export DJINN_LOG_FORMAT=json RUST_LOG=warn
# Payloads are encrypted as in production, so the figures include the codec's cost.
DJINN_CODEC_KEYS="$(new_codec_keys bench)"
export DJINN_CODEC_KEYS

DJINN="$ROOT/target/release/djinn"
"$DJINN" migrate
"$DJINN" worker 2>"$DATA_DIR/bench-worker.log" &
worker_pid=$!
STARTED_PIDS+=("$worker_pid")
"$DJINN" api 2>"$DATA_DIR/bench-api.log" &
api_pid=$!
STARTED_PIDS+=("$api_pid")
# A second api, the same but exporting every span to the benchmark's OTLP receiver: the
# transfers run through both, and the report prints what tracing costs.
DJINN_API_ADDR="$BENCH_TRACED_API_ADDR" OTEL_EXPORTER_OTLP_ENDPOINT="http://$BENCH_OTLP_ADDR" \
  OTEL_SERVICE_NAME=djinn-api-traced "$DJINN" api 2>"$DATA_DIR/bench-api-traced.log" &
traced_api_pid=$!
STARTED_PIDS+=("$traced_api_pid")
for address in "$BENCH_API_ADDR" "$BENCH_TRACED_API_ADDR"; do
  for attempt in $(seq 1 60); do
    curl -fsS "http://$address/healthz" >/dev/null 2>&1 && break
    sleep 0.5
  done
done

if [[ -n "${DJINN_BENCH_PG_STATS:-}" ]]; then
  as_pg_user "$(pg_bindir)/psql" -h 127.0.0.1 -p "$BENCH_PG_PORT" -d djinn_bench -qc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
fi
"$ROOT/target/release/djinn-bench" --api "http://$BENCH_API_ADDR" --worker-pid "$worker_pid" \
  --api-pid "$api_pid" --temporal-pid "$temporal_pid" \
  --traced-api "http://$BENCH_TRACED_API_ADDR" --traced-api-pid "$traced_api_pid" \
  --otlp-listen "$BENCH_OTLP_ADDR" \
  --temporal-metrics "http://127.0.0.1:$BENCH_TEMPORAL_METRICS_PORT/metrics" "$@"
if [[ -n "${DJINN_BENCH_PG_STATS:-}" ]]; then
  log "PostgreSQL: statements by total time"
  as_pg_user "$(pg_bindir)/psql" -h 127.0.0.1 -p "$BENCH_PG_PORT" -d djinn_bench -c \
    "SELECT calls, round(total_exec_time::numeric, 0) AS total_ms, round(mean_exec_time::numeric, 3) AS mean_ms,
            left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS query
       FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15"
  as_pg_user "$(pg_bindir)/psql" -h 127.0.0.1 -p "$BENCH_PG_PORT" -d djinn_bench -c \
    "SELECT sessions, xact_commit, xact_rollback, round(session_time) AS session_ms,
            round(active_time) AS active_ms, blks_hit, tup_inserted, tup_updated
       FROM pg_stat_database WHERE datname = 'djinn_bench'"
fi
