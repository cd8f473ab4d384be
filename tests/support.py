"""Real services for fault tests: a private Redis on a spare port, Celery worker
processes, and an SMS gateway slow enough to be killed in the middle of a send.

Fault tests stop and start only these; the shared Redis other tests use is never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import connection

from cases.delivery import OutboxSmsGateway

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.executable = shutil.which("redis-server") or "/usr/bin/redis-server"

    def _reachable(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
        except OSError:
            return False
        return True

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_for(self._reachable, 10):
            raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
        wait_for(lambda: not self._reachable(), 10)


class Worker:
    """A Celery worker process on the private broker, against the test database."""

    def __init__(self, broker_url: str, name: str, **env: str) -> None:
        db = connection.settings_dict
        self.env = {
            **os.environ,
            "PORTAL_ENV": "test",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            "CELERY_BROKER_URL": broker_url,
            "PYTHONPATH": str(ROOT),
            **env,
        }
        self.name = name
        self.log = ROOT / "var" / f"test-worker-{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "portal",
                    "worker",
                    "--pool",
                    "solo",
                    "--without-mingle",
                    "--without-gossip",
                    "--without-heartbeat",
                    "--loglevel",
                    "INFO",
                    "--hostname",
                    f"{self.name}@%h",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if not wait_for(lambda: b"ready" in self.log.read_bytes(), 60):
            self.stop()
            raise RuntimeError(f"worker {self.name} did not start:\n{self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: the process dies mid-task, acknowledging nothing."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None


@contextmanager
def publishing_to(url: str) -> Iterator[None]:
    """Make this process's Celery app publish to ``url`` (and back afterwards)."""
    from portal.celery import app

    def reset() -> None:
        # kombu keeps one pool per broker URL; forget the app's, never close it (the
        # pool for the other URL is shared and still in use afterwards).
        app._pool = None
        app.amqp._producer_pool = None

    # Celery reads CELERY_BROKER_URL from the environment before its settings, so the
    # write URL (which publishing uses) is the one to point elsewhere.
    old = app.conf.broker_write_url
    app.conf.broker_write_url = url
    reset()
    try:
        yield
    finally:
        app.conf.broker_write_url = old
        reset()


class SlowSmsGateway(OutboxSmsGateway):
    """Signals that a send began (a marker file), then takes long enough to be killed."""

    def send(self, delivery: Any, text: str) -> None:
        Path(os.environ["SLOW_GATEWAY_MARKER"]).write_text(str(delivery.pk))
        time.sleep(120)
        super().send(delivery, text)
