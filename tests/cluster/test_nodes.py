"""Several machines' worth of the portal on this one: a primary and its streaming replica
(the embedded PostgreSQL's own initdb and pg_basebackup -R), two gunicorn web nodes and
two Celery workers on Redis. Concurrent clerks write through both nodes while the daily
reminder job runs on both workers at once; exports read from the replica once it has
caught up; stopping the replica mid-run turns its reads to the primary without one failed
request.

Marked ``cluster``: ``pytest -m cluster`` runs it alone; ``make test`` runs it with the rest.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from portal import pgcluster
from portal.pgcluster import Cluster
from tests.cluster import program
from tests.factories import resident_id
from tests.support import free_port, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
BIN = Path(PYTHON).parent
BROKER = "redis://127.0.0.1:6379/7"
CSRF = secrets.token_hex(16)  # 32 characters: Django takes an unmasked token as it is


class Node:
    """A gunicorn web node."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.proc = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "portal.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--timeout",
                "60",
                "--error-logfile",
                str(log),
                "--capture-output",
            ],
            cwd=ROOT,
            env=env,
        )

    def ready(self) -> bool:
        try:
            return request(self, "GET", "/healthz/ready/", "")[0] == 200
        except OSError:
            return False


def request(node: Node, method: str, path: str, session: str, form: dict[str, str] | None = None):
    conn = HTTPConnection("127.0.0.1", node.port, timeout=60)
    headers = {"Cookie": f"sessionid={session}; csrftoken={CSRF}", "Host": "127.0.0.1"}
    body = None
    if form is not None:
        body = urlencode({**form, "csrfmiddlewaretoken": CSRF})
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data, response.getheader("Set-Cookie") or ""


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def cluster() -> Iterator[dict[str, Any]]:
    base = pgcluster.owned_directory(pgcluster.scratch("cluster"))
    primary = Cluster(base / "primary", free_port()).init()
    replica = Cluster(base / "replica", free_port())
    procs: list[subprocess.Popen[Any]] = []
    try:
        primary.start()
        primary.psql("CREATE DATABASE mente")
        replica.replica_of(primary).start()
        env = {
            **os.environ,
            "PORTAL_ENV": "test",
            "DATABASE_URL": primary.url("mente"),
            "DATABASE_REPLICA_URL": replica.url("mente"),
            "DATABASE_REPLICA_MAX_LAG": "600",
            "DATABASE_REPLICA_CHECK_SECONDS": "0.5",
            "DATABASE_CONN_MAX_AGE": "0",
            "CELERY_BROKER_URL": BROKER,
            "ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "PYTHONPATH": str(ROOT),
        }
        program([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env)
        program([PYTHON, "manage.py", "load_reference_data"], env)
        seeded = program([PYTHON, "-m", "tests.cluster.seed"], env)
        fixtures = json.loads(seeded.strip().splitlines()[-1])
        program(  # an empty queue for this test
            [
                PYTHON,
                "-c",
                "from portal.celery import app; app.connection_for_write()"
                ".default_channel.client.flushdb()",
            ],
            env,
        )
        nodes = [Node(env, base / f"node{i}.log") for i in range(2)]
        procs += [n.proc for n in nodes]
        for i in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        str(BIN / "celery"),
                        "-A",
                        "portal",
                        "worker",
                        "--pool",
                        "solo",
                        "--hostname",
                        f"node{i}@%h",
                        "--loglevel",
                        "WARNING",
                        "--logfile",
                        str(base / f"worker{i}.log"),
                    ],
                    cwd=ROOT,
                    env=env,
                )
            )
        assert wait_for(lambda: all(n.ready() for n in nodes), timeout=90), "nodes did not start"
        yield {
            "primary": primary,
            "replica": replica,
            "nodes": nodes,
            "env": env,
            "base": base,
            **fixtures,
        }
    finally:
        for proc in procs:
            stop(proc)
        replica.stop("immediate")
        primary.stop("immediate")
        import shutil

        shutil.rmtree(base, ignore_errors=True)


def count(primary: Cluster, sql: str) -> int:
    return int(primary.psql(sql, "mente"))


def caught_up(cluster: dict[str, Any]) -> bool:
    target = cluster["primary"].psql("SELECT pg_current_wal_lsn()", "mente")
    return cluster["replica"].psql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'", "mente") == "t"


def register(node: Node, session: str, name: str) -> int:
    form = {
        "cert_type": "resident_id",
        "cert_number": resident_id("451202", "19700101"),
        "name": name,
        "insurance_type": "390",
        "phone": "",
        "address": "",
    }
    status, _, _ = request(node, "POST", "/patients/new/", session, form)
    return status


def export(node: Node, session: str) -> tuple[int, str]:
    status, body, _ = request(node, "GET", "/patients/?export=csv", session)
    return status, body.decode("utf-8-sig", errors="replace")


def test_writes_reminders_and_replica_reads_across_nodes(cluster):
    nodes, sessions, primary = cluster["nodes"], cluster["sessions"], cluster["primary"]
    before = count(primary, "SELECT count(*) FROM cases_patient")

    # The daily job on both workers at once, while four clerks write through both nodes.
    program(
        [
            PYTHON,
            "-c",
            "from portal.celery import app\n"
            "for _ in range(2): app.send_task('cases.tasks.run_daily_reminders')",
        ],
        cluster["env"],
    )

    def clerk(i: int) -> list[int]:
        return [register(nodes[(i + n) % 2], sessions[i], f"并发示例{i}-{n}") for n in range(10)]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        statuses = [s for result in pool.map(clerk, range(4)) for s in result]
    assert statuses == [302] * 40, statuses
    # No lost write: every accepted registration is on the primary, once.
    assert count(primary, "SELECT count(*) FROM cases_patient") == before + 40
    assert count(primary, "SELECT count(DISTINCT cert_number) FROM cases_patient") == before + 40

    # No duplicate reminder or delivery: one 30-day reminder per expiring filing.
    expiring = cluster["expiring"]
    assert wait_for(
        lambda: (
            count(primary, "SELECT count(*) FROM cases_reminder") == expiring
            and count(primary, "SELECT count(*) FROM cases_delivery WHERE status <> 'sent'") == 0
            and count(primary, "SELECT count(*) FROM cases_delivery") > 0
        ),
        timeout=120,
    ), primary.psql("SELECT status, count(*) FROM cases_delivery GROUP BY 1", "mente")
    time.sleep(2)  # both jobs are done: nothing more arrives
    assert count(primary, "SELECT count(*) FROM cases_reminder") == expiring
    assert count(primary, "SELECT count(*) FROM cases_smsoutbox") == count(
        primary, "SELECT count(*) FROM cases_delivery WHERE channel = 'sms'"
    )
    assert count(primary, "SELECT count(*) FROM cases_notification") == count(
        primary, "SELECT count(*) FROM cases_delivery WHERE channel = 'inbox'"
    )
    assert count(primary, "SELECT count(*) FROM cases_jobrun") >= 1


def test_exports_read_the_replica_and_a_writer_reads_its_writes(cluster):
    nodes, (writer, reader, *_) = cluster["nodes"], cluster["sessions"]
    replica = cluster["replica"]
    assert wait_for(lambda: caught_up(cluster), timeout=60)
    replica.psql("SELECT pg_wal_replay_pause()", "mente")
    try:
        assert register(nodes[0], writer, "复制延迟示例") == 302
        # Another clerk's export, on the other node, reads the paused replica.
        status, text = export(nodes[1], reader)
        assert status == 200
        assert "复制延迟示例" not in text  # read from the paused replica
    finally:
        replica.psql("SELECT pg_wal_replay_resume()", "mente")
    assert wait_for(lambda: caught_up(cluster), timeout=60)
    status, text = export(nodes[1], reader)
    assert status == 200
    assert "复制延迟示例" in text


def test_a_pinned_writer_reads_the_primary_while_the_replica_lags(cluster):
    nodes, (writer, *_rest) = cluster["nodes"], cluster["sessions"]
    replica = cluster["replica"]
    assert wait_for(lambda: caught_up(cluster), timeout=60)
    replica.psql("SELECT pg_wal_replay_pause()", "mente")
    try:
        form = {
            "cert_type": "resident_id",
            "cert_number": resident_id("451202", "19700101"),
            "name": "写后即读示例",
            "insurance_type": "390",
        }
        status, _, cookie = request(nodes[0], "POST", "/patients/new/", writer, form)
        assert status == 302
        pin = cookie.split("db_primary_until=")[1].split(";")[0]
        conn = HTTPConnection("127.0.0.1", nodes[1].port, timeout=60)
        conn.request(
            "GET",
            "/patients/?export=csv",
            headers={"Cookie": f"sessionid={writer}; db_primary_until={pin}", "Host": "127.0.0.1"},
        )
        text = conn.getresponse().read().decode("utf-8-sig")
        assert "写后即读示例" in text
    finally:
        replica.psql("SELECT pg_wal_replay_resume()", "mente")


def test_stopping_the_replica_mid_run_fails_no_request(cluster):
    nodes, sessions = cluster["nodes"], cluster["sessions"]
    results: list[int] = []
    stop_at = time.monotonic() + 6

    def reads(i: int) -> None:
        while time.monotonic() < stop_at:
            results.append(export(nodes[i % 2], sessions[i])[0])

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(reads, i) for i in range(3)]
        time.sleep(2)
        cluster["replica"].stop("immediate")
        for future in futures:
            future.result()
    assert results
    assert set(results) == {200}, results
    logs = "".join(p.read_text() for p in cluster["base"].glob("node*.log"))
    assert "replica unusable, reading from the primary" in logs


def test_a_reconciliation_upload_is_compared_by_a_worker_with_progress(cluster):
    """A platform file uploaded on one node, compared by whichever worker takes it; its
    progress read on the other node."""
    nodes, (clerk, *_rest) = cluster["nodes"], cluster["sessions"]
    boundary = secrets.token_hex(8)
    rows = "psn_no,reflin_medins_no,begndate,enddate,trt_dcla_detl_sn\r\n"
    rows += "45000000000000000001,H44010600001,2026-01-05,2026-07-04,SN900001\r\n"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
        f'{CSRF}\r\n--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\n'
        f'letter\r\n--{boundary}\r\nContent-Disposition: form-data; name="file";'
        f' filename="5304.csv"\r\nContent-Type: text/csv\r\n\r\n{rows}\r\n--{boundary}--\r\n'
    ).encode()
    conn = HTTPConnection("127.0.0.1", nodes[0].port, timeout=60)
    conn.request(
        "POST",
        "/national/reconciliations/",
        body=body,
        headers={
            "Cookie": f"sessionid={clerk}; csrftoken={CSRF}",
            "Host": "127.0.0.1",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    response = conn.getresponse()
    response.read()
    assert response.status == 302
    detail = response.getheader("Location") or ""

    def finished() -> bool:
        status, data, _ = request(nodes[1], "GET", f"{detail}progress/", clerk)
        return status == 200 and json.loads(data)["running"] is False

    assert wait_for(finished, timeout=60)
    status, page, _ = request(nodes[1], "GET", detail + "?outcome=platform_only", clerk)
    assert status == 200
    assert "SN900001" in page.decode()
