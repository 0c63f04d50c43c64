#!/usr/bin/env bash
# Run a command with DATABASE_URL pointing at PostgreSQL.
# Uses TEST_DATABASE_URL when given; otherwise installs PostgreSQL from Debian's
# packages if needed, starts a throwaway server on a private port, and removes it
# afterwards. Fails loudly when PostgreSQL cannot be had: never a silent skip.
set -euo pipefail

if [[ -n "${TEST_DATABASE_URL:-}" ]]; then
    DATABASE_URL="$TEST_DATABASE_URL" exec "$@"
fi

find_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
BINDIR="$(find_bindir)"
if [[ -z "$BINDIR" || ! -x "$BINDIR/initdb" ]]; then
    echo "PostgreSQL server not found: installing it from Debian's packages" >&2
    SUDO=""; [[ "$(id -u)" != 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
    BINDIR="$(find_bindir)"
fi
[[ -x "$BINDIR/initdb" ]] || { echo "FATAL: PostgreSQL could not be installed" >&2; exit 1; }

PGROOT="$(mktemp -d /tmp/creneau-pg.XXXXXX)"
PORT="${PGPORT_TEST:-$((20000 + RANDOM % 20000))}"
if [[ "$(id -u)" == 0 ]]; then
    # PostgreSQL refuses to run as root: run it as the postgres system user.
    chown postgres: "$PGROOT"
    AS_PG=(runuser -u postgres --)
else
    AS_PG=()
fi
"${AS_PG[@]}" "$BINDIR/initdb" -D "$PGROOT/data" -U creneau --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
# max_connections: a pytest worker's largest race holds about 101 connections (100 threads
# in tests/concurrency/test_booking_races.py and the test's own); `make test`'s two workers
# (PYTEST_WORKERS) may run theirs at the same time. More workers need more.
cat >>"$PGROOT/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$PGROOT'
max_connections = 300
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
if [[ -n "${CRENEAU_PG_STATEMENTS:-}" ]]; then
    # bench/rush.py counts the SQL statements of a rush (pg_stat_statements), on request
    # only: it costs every statement a little.
    cat >>"$PGROOT/data/postgresql.conf" <<CONF
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.max = 10000
CONF
fi
stop() { "${AS_PG[@]}" "$BINDIR/pg_ctl" -D "$PGROOT/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$PGROOT"; }
trap stop EXIT
"${AS_PG[@]}" "$BINDIR/pg_ctl" -D "$PGROOT/data" -l "$PGROOT/server.log" -w start >/dev/null \
    || { cat "$PGROOT/server.log" >&2; echo "FATAL: PostgreSQL did not start" >&2; exit 1; }
"$BINDIR/createdb" -h 127.0.0.1 -p "$PORT" -U creneau creneau
echo "PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT" >&2
# How to stop, start and restart this server (bench/rush.py's faults): pg_ctl with its data
# directory and log, as the user it runs as; append -m fast -w restart, and so on.
export CRENEAU_PG_CTL="${AS_PG[*]} $BINDIR/pg_ctl -D $PGROOT/data -l $PGROOT/server.log"
DATABASE_URL="postgres://creneau@127.0.0.1:$PORT/creneau" "$@"
