"""The restore drill: a base backup with continuous WAL archiving, restored to a point in
time (PITR) in a fresh data directory, has exactly the writes made before that time.

Marked ``cluster``: ``pytest -m cluster`` runs it alone; ``make test`` runs it with the rest.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from portal import pgcluster
from portal.pgcluster import Cluster
from tests.cluster import program
from tests.support import free_port

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def counts(server: Cluster, tag: str) -> tuple[int, int, int]:
    """Patients named ``tag…``, their selections and their reminders (``tag`` is one of
    this test's own constants)."""
    like = f"LIKE '{tag}%'"
    sql = (
        f"SELECT (SELECT count(*) FROM cases_patient WHERE name {like}),"  # noqa: S608
        " (SELECT count(*) FROM cases_selection s JOIN cases_patient p ON p.id = s.patient_id"
        f"  WHERE p.name {like}),"
        " (SELECT count(*) FROM cases_reminder r JOIN cases_patient p ON p.id = r.patient_id"
        f"  WHERE p.name {like})"
    )
    row = server.psql(sql, "mente")
    a, b, c = (int(v) for v in row.split("|"))
    return a, b, c


def test_a_point_in_time_restore_has_exactly_the_writes_before_it():
    base = pgcluster.owned_directory(pgcluster.scratch("drill"))
    archive = pgcluster.owned_directory(base / "archive")
    primary = Cluster(base / "primary", free_port()).init(
        archive_mode="on", archive_command=pgcluster.archive_command(archive)
    )
    restored = Cluster(base / "restored", free_port())
    env = {
        **os.environ,
        "PORTAL_ENV": "test",
        "DATABASE_URL": primary.url("mente"),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PYTHONPATH": str(ROOT),
    }
    python = sys.executable
    try:
        primary.start()
        primary.psql("CREATE DATABASE mente")
        program([python, "manage.py", "migrate", "--noinput", "-v", "0"], env)
        program([python, "manage.py", "load_reference_data"], env)
        program([python, "-m", "tests.cluster.writes", "基线示例", "3"], env)
        # make backup's command, as an operator runs it.
        made = program([python, "-m", "portal.backup", "base", "--dir", str(base / "backups")], env)
        backup = Path(made.split("base backup in ")[1].strip())
        assert (backup / "base.tar.gz").exists()
        assert (backup / "backup_manifest").exists()

        # Writes after the base backup, replayed from the archive; then the point in time.
        program([python, "-m", "tests.cluster.writes", "备份后示例", "4"], env)
        target = primary.psql("SELECT clock_timestamp()")
        time.sleep(1.1)
        program([python, "-m", "tests.cluster.writes", "时间点后示例", "2"], env)
        segment = primary.psql("SELECT pg_walfile_name(pg_switch_wal())")
        assert primary.wait_archived(segment), "the WAL did not reach the archive"
        primary.stop("immediate")  # the disk is lost

        restored.restore(backup, archive, target).start()
        restored.wait_promoted()
        assert counts(restored, "基线示例") == (3, 3, 3)
        assert counts(restored, "备份后示例") == (4, 4, 4)
        assert counts(restored, "时间点后示例") == (0, 0, 0)
    finally:
        restored.stop("immediate")
        primary.stop("immediate")
        if not os.environ.get("KEEP_DRILL"):
            shutil.rmtree(base, ignore_errors=True)
