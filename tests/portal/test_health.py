"""Health endpoints for a load balancer: liveness answers without the database;
readiness fails on the primary database only (the broker with ?strict=1)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError
from django.test import Client

from portal import views

pytestmark = pytest.mark.django_db


def test_liveness_needs_no_login_and_no_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        response = Client().get("/healthz/live/")
    assert response.status_code == 200
    assert response.json() == {"status": "live"}
    assert "no-cache" in response["Cache-Control"]


def test_readiness_checks_the_database_and_the_broker():
    response = Client().get("/healthz/ready/")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"], body["broker"]) == ("ready", "ok", "ok")


def test_readiness_fails_without_the_database(monkeypatch):
    class Broken:
        def cursor(self):
            raise DatabaseError("connection refused")

    monkeypatch.setattr(views, "connections", {"default": Broken()})
    response = Client().get("/healthz/ready/")
    assert response.status_code == 503
    assert response.json()["database"].startswith("down")


def test_a_broker_outage_fails_readiness_only_when_strict(monkeypatch, settings):
    from kombu import Connection

    from portal.celery import app

    monkeypatch.setattr(app, "connection_for_write", lambda: Connection("redis://127.0.0.1:1/0"))
    relaxed = Client().get("/healthz/ready/")
    assert relaxed.status_code == 200
    assert relaxed.json()["broker"].startswith("down")
    assert Client().get("/healthz/ready/?strict=1").status_code == 503
