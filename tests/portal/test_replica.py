"""Read routing (portal.replica): heavy reads on the replica only when asked, usable and
not pinned by a write; a failing replica's read served again by the primary. The real
streaming replica is exercised by tests/cluster/test_nodes.py."""

from __future__ import annotations

import time

import pytest
from django.db import OperationalError, connection, transaction
from django.http import HttpResponse
from django.test import RequestFactory

from portal import replica

pytestmark = pytest.mark.django_db


@pytest.fixture
def with_replica(monkeypatch, settings):
    """A configured replica whose health the test decides."""
    state = {"usable": True}
    monkeypatch.setattr(replica, "configured", lambda: True)
    monkeypatch.setattr(replica, "usable", lambda: state["usable"])
    return state


def test_without_a_replica_every_read_is_the_primarys():
    with replica.replica_reads():
        assert replica.read_alias() is None
    assert replica.ReplicaRouter().db_for_read(None) is None
    assert replica.on_replica(lambda: 42) == 42


def test_reads_go_to_the_replica_only_where_asked(with_replica):
    assert replica.read_alias() is None
    with replica.replica_reads():
        assert replica.read_alias() == "replica"
        assert replica.ReplicaRouter().db_for_read(None) == "replica"
    assert replica.ReplicaRouter().db_for_write(None) == "default"
    assert replica.ReplicaRouter().allow_migrate("replica", "cases") is False


def test_a_pinned_session_or_an_open_transaction_reads_the_primary(with_replica):
    with replica.replica_reads():
        with replica.pinned_to_primary():
            assert replica.read_alias() is None
        with transaction.atomic():
            assert replica.read_alias() is None


def test_an_unusable_replica_leaves_reads_on_the_primary(with_replica):
    with_replica["usable"] = False
    with replica.replica_reads():
        assert replica.read_alias() is None


def test_a_replica_failing_under_a_read_is_retried_on_the_primary(with_replica, caplog):
    calls = []

    def read():
        calls.append(replica.read_alias())
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return "rows"

    replica.health.usable = True
    assert replica.on_replica(read) == "rows"
    assert calls == ["replica", None]
    assert "reading from the primary" in caplog.text
    assert replica.health.usable is False


def test_the_lag_query_runs_on_postgresql():
    assert replica.lag_of(connection) == 0.0  # not a standby


def test_usable_rechecks_at_most_every_few_seconds(monkeypatch, settings):
    settings.DATABASE_REPLICA_CHECK_SECONDS = 60
    settings.DATABASE_REPLICA_MAX_LAG = 5
    asked = []
    monkeypatch.setattr(replica, "lag_seconds", lambda: asked.append(1) or 9.0)
    monkeypatch.setattr(replica, "health", replica._Health())
    assert replica.usable() is False  # 9 s behind, over 5
    assert replica.usable() is False
    assert len(asked) == 1
    assert "lag 9.0" in replica.health.reason


def test_a_write_pins_the_session_to_the_primary(with_replica, settings):
    settings.DATABASE_REPLICA_PIN_SECONDS = 10
    seen = []

    def view(request):
        with replica.replica_reads():
            seen.append(replica.read_alias())
        return HttpResponse("ok")

    middleware = replica.PinMiddleware(view)
    factory = RequestFactory()
    posted = middleware(factory.post("/patients/new/"))
    cookie = posted.cookies[replica.PIN_COOKIE]
    assert float(cookie.value) > time.time()
    assert cookie["httponly"]
    pinned = factory.get("/patients/")
    pinned.COOKIES[replica.PIN_COOKIE] = cookie.value
    middleware(pinned)
    free = factory.get("/patients/")
    free.COOKIES[replica.PIN_COOKIE] = "garbage"
    middleware(free)
    middleware(factory.get("/patients/"))
    assert seen == [None, None, "replica", "replica"]
