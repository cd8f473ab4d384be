"""Delivery survives failures, with real workers on a private Redis and a real SMTP server."""

from __future__ import annotations

import datetime as dt

import pytest
from aiosmtpd.controller import Controller
from django.core import mail

from cases import delivery, facts, reminders
from cases.models import Delivery, Filing, Notification, Reminder, ReminderCheck, SmsOutbox
from cases.services.filings import filing_create
from cases.tasks import sweep
from institutions.models import Region
from tests import factories
from tests.support import PrivateRedis, Worker, free_port, publishing_to, wait_for

CLAIM_TIMEOUT = "3"


@pytest.fixture
def private_redis():
    redis = PrivateRedis()
    redis.start()
    yield redis
    redis.stop()


def filing_ending_soon(clerk, patient, today, days_left=5):
    start = today - dt.timedelta(days=183) + dt.timedelta(days=days_left)
    with facts.as_of(today):
        return filing_create(
            by=clerk,
            patient=patient,
            type="temporary",
            subtype="other",
            destination=Region.objects.get(code="440100"),
            start=start,
            filed_on=today,
            materials=["identity"],
        )


def all_sent():
    statuses = set(Delivery.objects.values_list("status", flat=True))
    return bool(statuses) and statuses == {Delivery.Status.SENT}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_worker_killed_after_claiming_delivers_exactly_once_after_restart(
    clerk, reviewer, private_redis, tmp_path, settings
):
    settings.DELIVERY_CLAIM_TIMEOUT = int(CLAIM_TIMEOUT)
    settings.DELIVERY_REQUEUE_AFTER = 0
    patient = factories.patient(clerk)
    patient.phone = "13800002222"
    patient.save()
    today = facts.today()
    marker = tmp_path / "sending"
    with publishing_to(private_redis.url):
        filing_ending_soon(clerk, patient, today)
        ReminderCheck.objects.all().delete()  # this test drives the daily job itself
        report = reminders.run_job(today, keep=True)
        assert [r.stage for r in report.to_send] == ["7"]

        slow = Worker(
            private_redis.url,
            "slow",
            SMS_GATEWAY="tests.support.SlowSmsGateway",
            SLOW_GATEWAY_MARKER=str(marker),
            DELIVERY_CLAIM_TIMEOUT=CLAIM_TIMEOUT,
        )
        slow.start()
        try:
            assert wait_for(marker.exists, 60), "the SMS delivery never started"
        finally:
            slow.kill()
        sms = Delivery.objects.get(channel="sms")
        assert sms.status == Delivery.Status.SENDING  # claimed, then its worker died
        assert not SmsOutbox.objects.exists()

        worker = Worker(private_redis.url, "restarted", DELIVERY_CLAIM_TIMEOUT=CLAIM_TIMEOUT)
        worker.start()
        try:
            # Once the dead worker's claim is stale, the sweep hands the delivery out again.
            def swept_and_sent():
                sweep()
                return all_sent()

            assert wait_for(swept_and_sent, 60, step=1.0), worker.log.read_text()[-3000:]
        finally:
            worker.stop()
    assert SmsOutbox.objects.count() == 1
    assert Notification.objects.filter(user=clerk).count() == 1
    assert Notification.objects.filter(user=reviewer).count() == 1
    assert Reminder.objects.get(stage="7").status == Reminder.Status.SENT


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_saving_a_filing_while_redis_is_down_succeeds_and_reminders_follow(
    clerk, private_redis, settings
):
    settings.DELIVERY_REQUEUE_AFTER = 0
    patient = factories.patient(clerk)
    today = facts.today()
    with publishing_to(private_redis.url):
        private_redis.stop()
        filing = filing_ending_soon(clerk, patient, today)  # a late filing, ending in 5 days
        assert Filing.objects.filter(pk=filing.pk).exists()
        assert ReminderCheck.objects.filter(patient=patient).exists()
        assert not Reminder.objects.exists()

        private_redis.start()
        worker = Worker(private_redis.url, "after-outage")
        worker.start()
        try:

            def swept_and_delivered():
                sweep()
                return Notification.objects.filter(user=clerk).exists() and all_sent()

            assert wait_for(swept_and_delivered, 60, step=1.0), worker.log.read_text()[-3000:]
        finally:
            worker.stop()
    assert not ReminderCheck.objects.exists()
    assert Reminder.objects.get(status=Reminder.Status.SENT).stage == "7"
    assert Reminder.objects.get(status=Reminder.Status.SUPERSEDED).stage == "30"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
        return "250 OK"


@pytest.mark.django_db
def test_email_goes_through_a_real_smtp_server(clerk, settings):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.DEFAULT_FROM_EMAIL = "mente@bureau.example"
        clerk.email = "clerk@bureau.example"
        clerk.save()
        patient = factories.patient(clerk)
        filing_ending_soon(clerk, patient, dt.date(2025, 8, 27), days_left=5)
        ids = delivery.create_deliveries(reminders.run_reminders(dt.date(2025, 8, 27)).created)
        email = Delivery.objects.get(pk__in=ids, channel="email")
        assert delivery.deliver(email.pk) == "sent"
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    sender, recipients, content = inbox.messages[0]
    assert sender == "mente@bureau.example"
    assert recipients == ["clerk@bureau.example"]
    assert "门特提醒".encode() in content or b"=?utf-8?" in content
    assert mail.outbox == []  # really sent over SMTP, not to the test outbox
