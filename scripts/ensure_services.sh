#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis servers the test suite uses are reachable; start the
# machine's own servers if they are installed but stopped. Exits non-zero, naming what is
# missing, when one cannot be reached.
set -u

PG_HOST=${TEST_PG_HOST:-127.0.0.1}
PG_PORT=${TEST_PG_PORT:-5432}
REDIS_HOST=${TEST_REDIS_HOST:-127.0.0.1}
REDIS_PORT=${TEST_REDIS_PORT:-6379}

reachable() {  # host port
  python3 - "$1" "$2" <<'PY'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
except OSError:
    sys.exit(1)
PY
}

wait_for() {  # host port
  for _ in $(seq 1 30); do
    reachable "$1" "$2" && return 0
    sleep 0.5
  done
  return 1
}

status=0
if ! reachable "$PG_HOST" "$PG_PORT"; then
  if command -v pg_lsclusters >/dev/null 2>&1; then
    version=$(pg_lsclusters -h | awk '{print $1; exit}')
    [ -n "$version" ] && pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
  if ! wait_for "$PG_HOST" "$PG_PORT"; then
    echo "PostgreSQL is not reachable at $PG_HOST:$PG_PORT and could not be started." >&2
    echo "Install PostgreSQL (with btree_gist and pg_trgm) or set DATABASE_URL." >&2
    status=1
  fi
fi
if ! reachable "$REDIS_HOST" "$REDIS_PORT"; then
  if command -v redis-server >/dev/null 2>&1; then
    redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" --save "" --appendonly no >/dev/null || true
  fi
  if ! wait_for "$REDIS_HOST" "$REDIS_PORT"; then
    echo "Redis is not reachable at $REDIS_HOST:$REDIS_PORT and could not be started." >&2
    echo "Install redis-server or set CELERY_BROKER_URL." >&2
    status=1
  fi
fi
exit $status
