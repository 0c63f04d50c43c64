#!/usr/bin/env bash
# The production stack on one machine, as docs/operations.md describes it:
#   scripts/prod.sh          PostgreSQL and Redis (DATABASE_URL and REDIS_URL when set,
#                            otherwise servers of their own from Debian's packages, installed
#                            when missing), migrations, static files, gunicorn
#                            (deploy/gunicorn.conf.py) and the worker (messages, jobs).
#   scripts/prod.sh --demo   the same server on SQLite with the demo's data (make demo).
# Each step is announced; the address really served is printed once it answers. Ctrl-C
# (or SIGTERM) stops what this script started, and only that.
#
# HOST, PORT          where gunicorn listens (default 127.0.0.1:8000; with --demo and no
#                     PORT given, the next free port when 8000 is taken)
# CRENEAU_STATE_DIR   outside the repository: the generated SECRET_KEY and, without
#                     --demo, the encryption keys (field_keys) (0600), the
#                     PostgreSQL and Redis data, logs (default ~/.local/state/creneau)
# PYTHON              the virtualenv's python (default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

PY="${PYTHON:-$ROOT/.venv/bin/python}"
HOST="${HOST:-127.0.0.1}"
STATE="${CRENEAU_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/creneau}"
SUDO=""; [[ "$(id -u)" != 0 ]] && SUDO="sudo"
STEP=0
step() { STEP=$((STEP + 1)); printf '\n[%d] %s\n' "$STEP" "$*" >&2; }
die() { printf 'FATAL: %s\n' "$*" >&2; exit 1; }
port_busy() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

DEMO=0
DRY_RUN=0
for arg in "$@"; do
    case "$arg" in
        --demo) DEMO=1 ;;
        # Print the address and PUBLIC_URL it would serve with, start nothing (tests).
        --dry-run) DRY_RUN=1 ;;
        *) die "unknown argument $arg (--demo, --dry-run)" ;;
    esac
done

if [[ "$DEMO" == 1 && -z "${PORT:-}" ]]; then
    PORT=8000
    while port_busy "$HOST" "$PORT" && ((PORT < 8010)); do PORT=$((PORT + 1)); done
    [[ "$PORT" != 8000 ]] && echo "    port 8000 is taken: serving on $PORT" >&2
fi
PORT="${PORT:-8000}"
# Links in messages lead here unless PUBLIC_URL says otherwise (with HOST=0.0.0.0, set it
# to the address people type).
export PUBLIC_URL="${PUBLIC_URL:-http://$HOST:$PORT}"
if [[ "$DRY_RUN" == 1 ]]; then
    printf 'BIND=%s:%s\nPUBLIC_URL=%s\n' "$HOST" "$PORT" "$PUBLIC_URL"
    exit 0
fi

mkdir -p "$STATE/logs"
# Traversable but not listable: PostgreSQL and Redis run as their own users inside it.
chmod 711 "$STATE"

PIDS=()
STOPS=()
cleanup() {
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    for stop in "${STOPS[@]}"; do eval "$stop" || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "Secret key"
if [[ -z "${SECRET_KEY:-}" ]]; then
    if [[ ! -s "$STATE/secret_key" ]]; then
        (umask 077 && "$PY" -c 'import secrets; print(secrets.token_urlsafe(50))' >"$STATE/secret_key")
        echo "    generated in $STATE/secret_key (0600): keep it, links in messages depend on it" >&2
    else
        echo "    read from $STATE/secret_key" >&2
    fi
    chmod 600 "$STATE/secret_key"
    SECRET_KEY="$(cat "$STATE/secret_key")"
fi
export SECRET_KEY DEBUG=0

if [[ "$DEMO" == 0 && -z "${FIELD_ENCRYPTION_KEYS:-}" && -z "${FIELD_KEYS_FILE:-}" ]]; then
    step "Encryption keys of personal data"
    if [[ ! -s "$STATE/field_keys" ]]; then
        key() { "$PY" -c 'import base64, secrets; print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())'; }
        (umask 077 && printf '1:%s\nblind:%s\n' "$(key)" "$(key)" >"$STATE/field_keys")
        echo "    generated in $STATE/field_keys (0600): back it up apart from the database; lost, the personal data is lost" >&2
    else
        echo "    read from $STATE/field_keys" >&2
    fi
    chmod 600 "$STATE/field_keys"
    export FIELD_KEYS_FILE="$STATE/field_keys"
fi

if [[ "$DEMO" == 1 ]]; then
    export CRENEAU_DEMO=1
    export DATABASE_URL="${DATABASE_URL:-sqlite:///$ROOT/db.sqlite3}"
    unset REDIS_URL
else
    AS_PG=(); AS_REDIS=()
    if [[ "$(id -u)" == 0 ]]; then AS_PG=(runuser -u postgres --); AS_REDIS=(runuser -u redis --); fi

    if [[ -z "${DATABASE_URL:-}" ]]; then
        step "PostgreSQL (Debian's package, data in $STATE/postgres)"
        find_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
        BINDIR="$(find_bindir)"
        if [[ -z "$BINDIR" || ! -x "$BINDIR/initdb" ]]; then
            echo "    not installed: installing it (apt-get install postgresql)" >&2
            $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
            BINDIR="$(find_bindir)"
        fi
        [[ -x "$BINDIR/initdb" ]] || die "PostgreSQL could not be installed"
        PGPORT="${CRENEAU_PG_PORT:-54329}"
        PGDIR="$STATE/postgres"
        if [[ ! -s "$STATE/postgres-password" ]]; then
            (umask 077 && "$PY" -c 'import secrets; print(secrets.token_hex(24))' >"$STATE/postgres-password")
        fi
        if [[ ! -d "$PGDIR/data" ]]; then
            mkdir -p "$PGDIR"
            [[ "$(id -u)" == 0 ]] && chown postgres: "$PGDIR"
            chmod 700 "$PGDIR"
            PWFILE="$(mktemp)"; cp "$STATE/postgres-password" "$PWFILE"
            [[ "$(id -u)" == 0 ]] && chown postgres: "$PWFILE"
            "${AS_PG[@]}" "$BINDIR/initdb" -D "$PGDIR/data" -U creneau --pwfile="$PWFILE" \
                --auth-host=scram-sha-256 --auth-local=peer -E UTF8 --locale=C.UTF-8 >/dev/null
            rm -f "$PWFILE"
            cat >>"$PGDIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$PGDIR'
max_connections = 200
CONF
        fi
        port_busy 127.0.0.1 "$PGPORT" && die "port $PGPORT is taken (CRENEAU_PG_PORT=… to choose another)"
        STOPS+=("${AS_PG[*]} $BINDIR/pg_ctl -D $PGDIR/data -m fast stop >/dev/null 2>&1")
        "${AS_PG[@]}" "$BINDIR/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w start >/dev/null \
            || { tail -20 "$PGDIR/server.log" >&2; die "PostgreSQL did not start"; }
        export PGPASSWORD; PGPASSWORD="$(cat "$STATE/postgres-password")"
        "$BINDIR/psql" -h 127.0.0.1 -p "$PGPORT" -U creneau -d postgres -tAc \
            "SELECT 1 FROM pg_database WHERE datname = 'creneau'" | grep -q 1 \
            || "$BINDIR/createdb" -h 127.0.0.1 -p "$PGPORT" -U creneau creneau
        unset PGPASSWORD
        export DATABASE_URL="postgres://creneau:$(cat "$STATE/postgres-password")@127.0.0.1:$PGPORT/creneau"
        echo "    PostgreSQL on 127.0.0.1:$PGPORT" >&2
    fi

    if [[ -z "${REDIS_URL:-}" ]]; then
        step "Redis (Debian's package redis-server, in memory, as a user of its own)"
        if ! command -v redis-server >/dev/null; then
            echo "    not installed: installing it (apt-get install redis-server)" >&2
            $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >&2
        fi
        command -v redis-server >/dev/null || die "Redis could not be installed"
        REDIS_PORT="${CRENEAU_REDIS_PORT:-63790}"
        port_busy 127.0.0.1 "$REDIS_PORT" && die "port $REDIS_PORT is taken (CRENEAU_REDIS_PORT=… to choose another)"
        mkdir -p "$STATE/redis"
        [[ "$(id -u)" == 0 ]] && chown redis: "$STATE/redis"
        chmod 700 "$STATE/redis"
        # Cache, rate limits and the waiting room: nothing that must outlive a restart.
        "${AS_REDIS[@]}" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$STATE/redis" \
            --save "" --appendonly no --logfile "" >>"$STATE/logs/redis.log" 2>&1 &
        PIDS+=($!)
        for _ in $(seq 50); do port_busy 127.0.0.1 "$REDIS_PORT" && break; sleep 0.1; done
        port_busy 127.0.0.1 "$REDIS_PORT" || die "Redis did not start (see $STATE/logs/redis.log)"
        export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
        echo "    Redis on 127.0.0.1:$REDIS_PORT" >&2
    fi
fi

port_busy "$HOST" "$PORT" && die "port $PORT is taken on $HOST (PORT=… to choose another)"

step "Database migrations"
"$PY" manage.py migrate --no-input -v0

step "Static files (compressed and named by their content)"
"$PY" manage.py collectstatic --no-input -v0

if [[ "$DEMO" == 1 ]]; then
    step "Demo data: geography, vaccines, 1,340 sites, eight weeks of slots and eight weeks of history (minutes the first time)"
    "$PY" manage.py demo_load
fi

step "Worker (manage.py worker: the outbox, and every background job on its schedule)"
if [[ "$DEMO" == 1 ]]; then
    # The demo's messages are printed: to a file, the demo outbox page shows them anyway.
    "$PY" manage.py worker >>"$STATE/logs/worker.log" 2>&1 &
    echo "    its output: $STATE/logs/worker.log" >&2
else
    "$PY" manage.py worker &
fi
PIDS+=($!)

step "gunicorn (deploy/gunicorn.conf.py) on $HOST:$PORT"
# The demo's terminal shows warnings only, so that the address served stays in sight.
[[ "$DEMO" == 1 ]] && export GUNICORN_LOG_LEVEL="${GUNICORN_LOG_LEVEL:-warning}"
BIND="$HOST:$PORT" "$PY" -m gunicorn -c deploy/gunicorn.conf.py &
WEB=$!
PIDS+=("$WEB")
for _ in $(seq 150); do
    port_busy "$HOST" "$PORT" && break
    kill -0 "$WEB" 2>/dev/null || die "gunicorn stopped"
    sleep 0.2
done
port_busy "$HOST" "$PORT" || die "gunicorn did not answer on $HOST:$PORT"
ADDRESS="http://$HOST:$PORT/"
[[ "$HOST" == 0.0.0.0 ]] && ADDRESS="http://$(hostname -I | awk '{print $1}'):$PORT/ (every address of this machine)"
printf '\nCréneau is serving at %s (Ctrl-C stops it)\n' "$ADDRESS" >&2
# One stopping stops everything: a half-running stack is worse than none.
wait -n "${PIDS[@]}"
die "a process of the stack stopped; stopping the others"
