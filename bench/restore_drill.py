"""The restore drill at scale (docs/benchmarks.md, docs/operations.md): RPO and restore time.

    .venv/bin/python -m bench.restore_drill [--patients 300000]

A primary with continuous WAL archiving (archive_command, archive_timeout 60 s) and a
pg_receivewal stream beside it, seeded with the province-scale data; a base backup with
``python -m portal.backup base``; writes; a recorded point in time; more writes; the
primary's disk "lost"; a restore of the base backup with the archive to that point in a
fresh directory, checked to hold exactly the writes before it. Measured:

- RPO: how long a committed write waits until it is safe off the primary, by each way of
  shipping WAL (the archiver's copy of a finished segment; pg_receivewal's stream);
- the base backup's time and size, and the restore's time until the server accepts writes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.runner import free_port
from portal import pgcluster
from portal.backup import tool
from portal.pgcluster import Cluster

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SETTINGS = {
    "shared_buffers": "'2GB'",
    "maintenance_work_mem": "'1GB'",
    "max_wal_size": "'8GB'",
    "checkpoint_timeout": "'15min'",
    "archive_timeout": "60",
    "jit": "off",
}


def program(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(  # noqa: S603 - our own programs
        args, cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return done.stdout


def size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1024 / 1024


def write_once(primary: Cluster) -> str:
    """One committed write; its commit LSN."""
    return primary.psql(
        "UPDATE cases_patient SET address = address WHERE id = (SELECT min(id) FROM cases_patient)"
        " RETURNING pg_current_wal_insert_lsn()",
        "mente",
    ).splitlines()[0]


def rpo_archiver(primary: Cluster, samples: int) -> list[float]:
    """Seconds from a commit until the archiver has copied the segment holding it."""
    waits = []
    for _ in range(samples):
        lsn = write_once(primary)
        segment = primary.psql(f"SELECT pg_walfile_name('{lsn}')")
        started = time.monotonic()
        if not primary.wait_archived(segment, timeout=180):
            raise RuntimeError("the archiver did not copy the segment")
        waits.append(time.monotonic() - started)
    return waits


def rpo_stream(primary: Cluster, samples: int) -> list[float]:
    """Seconds from a commit until pg_receivewal has flushed it to its disk."""
    waits = []
    for _ in range(samples):
        lsn = write_once(primary)
        started = time.monotonic()
        while True:
            done = primary.psql(
                "SELECT count(*) FROM pg_stat_replication WHERE application_name ="  # noqa: S608 - an LSN the server gave
                f" 'pg_receivewal' AND flush_lsn >= '{lsn}'"
            )
            if done == "1":
                break
            if time.monotonic() - started > 60:  # noqa: PLR2004
                raise RuntimeError("pg_receivewal did not flush the write")
            time.sleep(0.005)
        waits.append(time.monotonic() - started)
        time.sleep(0.5)
    return waits


def drill(patients: int, log: Any) -> dict[str, Any]:  # noqa: PLR0915 - the drill's steps in order
    base = pgcluster.owned_directory(pgcluster.scratch("restore-drill"))
    archive = pgcluster.owned_directory(base / "archive")
    streamed = pgcluster.owned_directory(base / "streamed")
    primary = Cluster(base / "primary", free_port()).init(
        archive_mode="on", archive_command=pgcluster.archive_command(archive), **SETTINGS
    )
    restored = Cluster(base / "restored", free_port())
    env = {
        **os.environ,
        "PORTAL_ENV": "test",
        "DATABASE_URL": primary.url("mente"),
        "DJANGO_SETTINGS_MODULE": "bench.settings",  # with seed_scale
        "PYTHONPATH": str(ROOT),
    }
    result: dict[str, Any] = {"patients": patients}
    receiver = None
    try:
        primary.start()
        primary.psql("CREATE DATABASE mente")
        program([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env)
        program([PYTHON, "manage.py", "load_reference_data"], env)
        log(f"seeding {patients:,} patients …")
        started = time.monotonic()
        program([PYTHON, "manage.py", "seed_scale", "--patients", str(patients)], env)
        result["seed_seconds"] = time.monotonic() - started
        primary.psql("VACUUM ANALYZE", "mente")
        result["database_mb"] = (
            int(primary.psql("SELECT pg_database_size('mente')", "mente")) / 2**20
        )

        log("base backup …")
        started = time.monotonic()
        made = program([PYTHON, "-m", "portal.backup", "base", "--dir", str(base / "backups")], env)
        result["backup_seconds"] = time.monotonic() - started
        backup = Path(made.split("base backup in ")[1].strip())
        result["backup_mb"] = size_mb(backup)

        receiver = subprocess.Popen(  # noqa: S603 - PostgreSQL's own program
            pgcluster._as_owner(
                [
                    tool("pg_receivewal", 18),
                    "-d",
                    primary.url(),
                    "-D",
                    str(streamed),
                    "--synchronous",
                    "--no-loop",
                ]
            )
        )
        time.sleep(2)
        log("RPO …")
        result["rpo_stream"] = rpo_stream(primary, 20)
        result["rpo_archiver"] = rpo_archiver(primary, 3)

        log("writes around the point in time …")
        program([PYTHON, "-m", "tests.cluster.writes", "演练前", "20"], env)
        target = primary.psql("SELECT clock_timestamp()")
        time.sleep(1.1)
        program([PYTHON, "-m", "tests.cluster.writes", "演练后", "20"], env)
        segment = primary.psql("SELECT pg_walfile_name(pg_switch_wal())")
        if not primary.wait_archived(segment, timeout=120):
            raise RuntimeError("the last segment did not reach the archive")
        primary.stop("immediate")

        log("restore …")
        started = time.monotonic()
        restored.restore(backup, archive, target).start(wait=3600)
        restored.wait_promoted(timeout=3600)
        result["restore_seconds"] = time.monotonic() - started
        before = restored.psql(
            "SELECT count(*) FROM cases_patient WHERE name LIKE '演练前%'", "mente"
        )
        after = restored.psql(
            "SELECT count(*) FROM cases_patient WHERE name LIKE '演练后%'", "mente"
        )
        total = restored.psql("SELECT count(*) FROM cases_patient", "mente")
        result["restored"] = {"before": int(before), "after": int(after), "patients": int(total)}
        if (int(before), int(after)) != (20, 0):
            raise RuntimeError(f"the restore holds {before} writes before and {after} after")
        return result
    finally:
        if receiver is not None:
            receiver.terminate()
        restored.stop("immediate")
        primary.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.restore_drill")
    parser.add_argument("--patients", type=int, default=300_000)
    parser.add_argument("--output", type=Path, default=ROOT / "var" / "restore-drill.json")
    opts = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = drill(opts.patients, log)
    opts.output.parent.mkdir(parents=True, exist_ok=True)
    opts.output.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
