"""Heavy reads on a streaming replica (PostgreSQL hot standby), everything else on the
primary.

With ``DATABASE_REPLICA_URL`` set, settings define a ``replica`` alias. Reads go there only
where the code asks for it (``replica_reads``: exports, statistics, monthly reports, the
admin's lists, the national-format exports) and only when all of these hold:

- the request is not pinned to the primary: a write (any unsafe request) pins the
  session's next ``DATABASE_REPLICA_PIN_SECONDS`` seconds (a cookie), so a clerk reads
  what they just wrote (read-your-writes);
- the replica answers and lags the primary by at most ``DATABASE_REPLICA_MAX_LAG``
  seconds (checked at most every ``DATABASE_REPLICA_CHECK_SECONDS`` per process);
- the work is not inside a transaction on the primary (it would not see its own writes).

Otherwise, or when the replica fails during the read (``on_replica`` retries on the
primary), the read is served by the primary with a log line; never an error page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, OperationalError, connections

logger = logging.getLogger(__name__)

REPLICA = "replica"
PIN_COOKIE = "db_primary_until"
T = TypeVar("T")

_wanted: ContextVar[bool] = ContextVar("replica_reads", default=False)
_pinned: ContextVar[bool] = ContextVar("replica_pinned", default=False)


class _Health:
    """Per process: whether the replica is usable, rechecked every few seconds."""

    def __init__(self) -> None:
        self.checked_at = -1e9
        self.usable = False
        self.reason = "not checked"

    def mark_down(self, reason: str) -> None:
        if self.usable:
            logger.warning("replica unusable, reading from the primary: %s", reason)
        self.usable, self.reason, self.checked_at = False, reason, time.monotonic()


health = _Health()


def configured() -> bool:
    return REPLICA in settings.DATABASES


LAG_SQL = (
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0"
    " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)"
    " END"
)


def lag_of(connection: Any) -> float:
    """Seconds ``connection``'s server replays behind what it received (0: caught up, or
    not a standby)."""
    with connection.cursor() as cursor:
        cursor.execute(LAG_SQL)
        row = cursor.fetchone()
    return float(row[0]) if row else 0.0


def lag_seconds() -> float | None:
    """How far the replica is behind; None when it cannot be asked."""
    try:
        return lag_of(connections[REPLICA])
    except DatabaseError as exc:
        connections[REPLICA].close()
        health.mark_down(f"{type(exc).__name__}: {exc}".strip()[:200])
        return None


def usable() -> bool:
    """The replica answers and is close enough behind (cached for a few seconds)."""
    now = time.monotonic()
    if now - health.checked_at < settings.DATABASE_REPLICA_CHECK_SECONDS:
        return health.usable
    lag = lag_seconds()
    if lag is None:
        return False
    ok = lag <= settings.DATABASE_REPLICA_MAX_LAG
    if not ok:
        health.mark_down(f"lag {lag:.1f} s over {settings.DATABASE_REPLICA_MAX_LAG} s")
    elif not health.usable:
        logger.info("replica usable again (lag %.1f s)", lag)
    health.usable, health.checked_at = ok, now
    if ok:
        health.reason = f"lag {lag:.1f} s"
    return ok


def read_alias() -> str | None:
    """The alias a read goes to now: the replica, or None for the router's default."""
    if not (_wanted.get() and configured()) or _pinned.get():
        return None
    if _in_transaction():
        return None
    return REPLICA if usable() else None


def _in_transaction() -> bool:
    """In a transaction of the portal's own on the primary (a test case's wrapping
    transaction aside): its reads must see its writes."""
    blocks = connections["default"].atomic_blocks
    return any(not getattr(block, "_from_testcase", False) for block in blocks)


@contextmanager
def replica_reads() -> Iterator[None]:
    """Within: reads may go to the replica (see the module's conditions)."""
    token = _wanted.set(True)
    try:
        yield
    finally:
        _wanted.reset(token)


@contextmanager
def pinned_to_primary(pinned: bool = True) -> Iterator[None]:
    token = _pinned.set(pinned)
    try:
        yield
    finally:
        _pinned.reset(token)


def on_replica(read: Callable[[], T]) -> T:
    """``read()`` with replica reads; if the replica fails under it, again on the primary
    (a replica stopped between its health check and the query costs a retry, not an
    error page)."""
    if not configured():
        return read()
    try:
        with replica_reads():
            return read()
    except OperationalError as exc:
        # The replica went away, or cancelled the query for a conflict with recovery; on
        # the primary the same failure is retried once, harmlessly.
        health.mark_down(f"{type(exc).__name__} during a read: {exc}".strip()[:200])
        if REPLICA in settings.DATABASES:
            connections[REPLICA].close()
        return read()


def read_connection(model: Any) -> Any:
    """The connection a raw read of ``model``'s table uses (the router's choice)."""
    return connections[read_alias() or "default"]


class ReplicaRouter:
    """Reads asked for on the replica (``replica_reads``) go there when it is usable;
    writes, migrations and every other read use the primary."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return read_alias()

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the replica is a copy of the primary: the same rows

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == "default"


class PinMiddleware:
    """Read-your-writes: an unsafe request (a write) is served on the primary and pins the
    session's next DATABASE_REPLICA_PIN_SECONDS there too, by a cookie."""

    SAFE = ("GET", "HEAD", "OPTIONS")

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        if not configured():
            return self.get_response(request)
        writes = request.method not in self.SAFE
        try:
            until = float(request.COOKIES.get(PIN_COOKIE, "0"))
        except ValueError:
            until = 0.0
        with pinned_to_primary(writes or until > time.time()):
            response = self.get_response(request)
        if writes:
            seconds = settings.DATABASE_REPLICA_PIN_SECONDS
            response.set_cookie(
                PIN_COOKIE,
                f"{time.time() + seconds:.0f}",
                max_age=seconds,
                httponly=True,
                secure=settings.SESSION_COOKIE_SECURE,
                samesite="Lax",
            )
        return response
