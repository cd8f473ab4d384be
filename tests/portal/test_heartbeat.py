"""The heartbeat runs through a real Celery worker on Redis and shows on the status page."""

import time
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.urls import reverse

from portal.celery import app
from portal.models import Heartbeat
from portal.tasks import heartbeat_task


def _wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_heartbeat_runs_on_a_real_worker_and_shows_on_status_page(client_for, regions):
    from tests.conftest import make_user

    assert app.conf.broker_url.startswith("redis://")
    # A queue of its own, so that nothing other tests published gets in the way.
    queue = f"heartbeat-test-{uuid.uuid4().hex}"
    with start_worker(
        app, pool="solo", perform_ping_check=False, shutdown_timeout=10, queues=[queue]
    ):
        # As beat sends it (the schedule entry carries this header).
        heartbeat_task.apply_async(headers={"portal_origin": "beat"}, queue=queue)
        assert _wait_for(lambda: Heartbeat.objects.count() == 2)

    worker = Heartbeat.objects.get(component=Heartbeat.Component.WORKER)
    beat = Heartbeat.objects.get(component=Heartbeat.Component.BEAT)
    assert beat.last_seen_at <= worker.last_seen_at

    admin = make_user("dataadmin", "data_admin", None)
    body = client_for(admin).get(reverse("status")).content.decode()
    local = worker.last_seen_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    assert local.strftime("%Y-%m-%d %H:%M:%S") in body
    assert "Celery 定时调度（beat）" in body


def test_beat_schedule_sends_the_heartbeat_every_minute(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["heartbeat"]
    assert entry["task"] == "portal.tasks.heartbeat"
    assert entry["schedule"] == 60.0
    assert entry["options"]["headers"] == {"portal_origin": "beat"}
