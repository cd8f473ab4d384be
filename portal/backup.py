"""Backups with PostgreSQL's own tools (docs/operations.md).

    python -m portal.backup base [--dir DIR] [--keep N]
        A base backup (pg_basebackup: tar, compressed, with the WAL it needs, checked by
        pg_verifybackup) of BACKUP_DATABASE_URL, else DATABASE_URL, into DIR/base-<time>;
        the N newest are kept (BACKUP_KEEP, default 7).
    python -m portal.backup wal [--dir DIR]
        Streams the WAL into DIR as it is written (pg_receivewal, run as a service on the
        backup host): with the base backups, a restore to any point in time.

``make backup`` runs the first against DATABASE_URL, or against the embedded development
server (started for the purpose) when none is set. The server must accept replication
connections from this host for the role in the URL (pg_hba.conf, REPLICATION).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DIR = BASE_DIR / "var" / "backups"


def _major(program: str) -> int:
    out = subprocess.run(  # noqa: S603 - PostgreSQL's own program
        [program, "--version"], capture_output=True, text=True, check=False
    ).stdout
    digits = out.split()[-1].split(".")[0] if out.split() else "0"
    return int(digits) if digits.isdigit() else 0


def server_major() -> int:
    import psycopg  # noqa: PLC0415

    with psycopg.connect(source_url(), connect_timeout=10) as conn:
        return int(conn.info.server_version) // 10000


def tool(name: str, server: int) -> str:
    """A PostgreSQL client program at least as new as the server (pg_basebackup refuses a
    newer server): the one on PATH, else the embedded wheel's."""
    candidates = [shutil.which(name)]
    try:
        from portal.pgcluster import bin_dir  # noqa: PLC0415

        candidates.append(str(bin_dir() / name))
    except ImportError:
        pass
    for program in candidates:
        if program and _major(program) >= server:
            return program
    raise SystemExit(f"no {name} of PostgreSQL {server} or later on this host")


def source_url() -> str:
    url = os.environ.get("BACKUP_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("BACKUP_DATABASE_URL or DATABASE_URL must name the server to back up")
    return url


def base(directory: Path, keep: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"base-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}"
    server = server_major()
    subprocess.run(  # noqa: S603 - PostgreSQL's own program
        [
            tool("pg_basebackup", server),
            "-d",
            source_url(),
            "-D",
            str(target),
            "-F",
            "tar",
            "-z",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-password",
        ],
        check=True,
    )
    subprocess.run(  # noqa: S603
        [tool("pg_verifybackup", server), "--no-parse-wal", str(target)], check=True
    )
    backups = sorted(p for p in directory.glob("base-*") if p.is_dir())
    for old in backups[:-keep] if keep > 0 else []:
        shutil.rmtree(old)
    return target


def wal(directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    return subprocess.call(  # noqa: S603
        [
            tool("pg_receivewal", server_major()),
            "-d",
            source_url(),
            "-D",
            str(directory),
            "--no-password",
            "--synchronous",
            "--no-loop",
        ]
    )


def main(argv: list[str]) -> int:
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m portal.backup")
    parser.add_argument("what", choices=["base", "wal"])
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--keep", type=int, default=int(os.environ.get("BACKUP_KEEP", "7")))
    args = parser.parse_args(argv)
    if args.what == "base":
        target = base(args.dir or DEFAULT_DIR, args.keep)
        print(f"base backup in {target}", flush=True)
        return 0
    return wal(args.dir or DEFAULT_DIR / "wal")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
