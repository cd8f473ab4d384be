"""The reminder job (RM-1..5) and delivery (RM-4) without a worker: stages on their exact
days, idempotence, concurrency, channels and failures."""

from __future__ import annotations

import datetime as dt
import threading
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import connection, transaction
from django.urls import reverse

from cases import delivery, facts, reminders
from cases.models import Delivery, Filing, JobRun, Notification, Reminder, SmsOutbox
from cases.services.filings import filing_create
from institutions.models import Region
from tests import factories

D = dt.date
SHANGHAI = ZoneInfo("Asia/Shanghai")


def temporary_filing(clerk, patient, start, destination="440100"):
    with facts.as_of(start):
        return filing_create(
            by=clerk,
            patient=patient,
            type="temporary",
            subtype="other",
            destination=Region.objects.get(code=destination),
            start=start,
            materials=["identity"],
        )


def stages(report):
    return sorted((r.stage, r.status) for r in report.created)


@pytest.fixture
def patient(clerk):
    p = factories.patient(clerk)
    p.phone = "13800001111"
    p.save()
    return p


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "end", "thirty", "seven"),
    [
        (D(2025, 3, 1), D(2025, 9, 1), D(2025, 8, 2), D(2025, 8, 25)),
        (D(2025, 8, 31), D(2026, 2, 28), D(2026, 1, 29), D(2026, 2, 21)),  # month end
        (D(2023, 8, 31), D(2024, 2, 29), D(2024, 1, 30), D(2024, 2, 22)),  # leap year
        (D(2023, 9, 1), D(2024, 3, 1), D(2024, 1, 31), D(2024, 2, 23)),  # across 29 February
    ],
)
def test_every_stage_on_its_exact_day(clerk, patient, start, end, thirty, seven):
    filing = temporary_filing(clerk, patient, start)
    assert filing.end == end
    one_day = dt.timedelta(days=1)
    assert stages(reminders.run_reminders(thirty - one_day)) == []
    assert stages(reminders.run_reminders(thirty)) == [("30", "pending")]
    assert stages(reminders.run_reminders(seven - one_day)) == []
    assert stages(reminders.run_reminders(seven)) == [("7", "pending")]
    assert stages(reminders.run_reminders(end - one_day)) == []
    report = reminders.run_reminders(end)
    assert stages(report) == [("expired", "pending")]
    assert report.expired["filing"] == [filing.pk]
    filing.refresh_from_db()
    assert filing.status == Filing.Status.EXPIRED


@pytest.mark.django_db
def test_today_is_the_shanghai_date_at_midnight():
    before = dt.datetime(2025, 8, 1, 15, 59, 59, tzinfo=dt.UTC)  # 23:59:59 in Shanghai
    after = dt.datetime(2025, 8, 1, 16, 0, 0, tzinfo=dt.UTC)  # 00:00:00 on 2 August
    with mock.patch("django.utils.timezone.now", return_value=before):
        assert facts.today() == D(2025, 8, 1)
    with mock.patch("django.utils.timezone.now", return_value=after):
        assert facts.today() == D(2025, 8, 2)


@pytest.mark.django_db
def test_running_twice_creates_each_reminder_once(clerk, patient):
    temporary_filing(clerk, patient, D(2025, 3, 1))
    first = reminders.run_reminders(D(2025, 8, 26))
    assert stages(first) == [("30", "superseded"), ("7", "pending")]
    assert reminders.run_reminders(D(2025, 8, 26)).created == []
    assert Reminder.objects.count() == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_runs_at_once_create_each_reminder_once(clerk, patient):
    for destination in ["440100", "440300", "110000", "310000"]:
        temporary_filing(clerk, patient, D(2025, 3, 1), destination)
    barrier = threading.Barrier(2)
    created: list[int] = []
    lock = threading.Lock()

    def run():
        try:
            barrier.wait(timeout=10)
            report = reminders.run_reminders(D(2025, 8, 26))
            with lock:
                created.extend(r.pk for r in report.created)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert Reminder.objects.count() == 8
    assert sorted(created) == sorted(Reminder.objects.values_list("pk", flat=True))


@pytest.mark.django_db
def test_records_changed_during_the_day_are_consistent(clerk, patient):
    filing = temporary_filing(clerk, patient, D(2025, 3, 1))
    reminders.run_reminders(D(2025, 8, 2))
    # Cancelled after the 30-day reminder: no later stage, no expiry notice.
    from cases.services.filings import filing_cancel

    filing_cancel(by=clerk, filing=filing, day=D(2025, 8, 10))
    assert reminders.run_reminders(D(2025, 8, 25)).created == []
    assert reminders.run_reminders(D(2025, 9, 1)).created == []
    filing.refresh_from_db()
    assert filing.status == Filing.Status.CANCELLED


@pytest.mark.django_db
def test_a_rollback_enqueues_nothing(clerk, patient, django_capture_on_commit_callbacks):
    temporary_filing(clerk, patient, D(2025, 3, 1))
    with mock.patch("portal.queue.enqueue_now") as enqueue:
        with django_capture_on_commit_callbacks(execute=True):
            try:
                with transaction.atomic():
                    reminders.run_job(D(2025, 8, 2))
                    raise RuntimeError("rolled back")
            except RuntimeError:
                pass
        assert enqueue.call_count == 0
        assert Reminder.objects.count() == 0
        with django_capture_on_commit_callbacks(execute=True):
            reminders.run_job(D(2025, 8, 2))
        # One message per chunk of deliveries; together they name every delivery once.
        sent = []
        for call in enqueue.call_args_list:
            ids = call.args[1]
            sent += ids if isinstance(ids, list) else [ids]
        assert sorted(sent) == sorted(Delivery.objects.values_list("pk", flat=True))
        assert sent


@pytest.mark.django_db
def test_deliveries_reach_every_clerk_and_the_patient(clerk, reviewer, other_clerk, patient):
    clerk.email = "clerk@bureau.example"
    clerk.save()
    temporary_filing(clerk, patient, D(2025, 3, 1))
    report = reminders.run_reminders(D(2025, 8, 2))
    ids = delivery.create_deliveries(report.created)
    channels = sorted(Delivery.objects.filter(pk__in=ids).values_list("channel", "address"))
    assert channels == sorted(
        [
            ("inbox", str(clerk.pk)),
            ("inbox", str(reviewer.pk)),
            ("email", "clerk@bureau.example"),
            ("sms", "13800001111"),
        ]
    )
    for delivery_id in ids:
        assert delivery.deliver(delivery_id) == "sent"
        assert delivery.deliver(delivery_id) == "not claimed"  # never twice
    assert Notification.objects.filter(user=clerk).count() == 1
    assert Notification.objects.filter(user=other_clerk).count() == 0
    assert "有效期至2025-08-31" in Notification.objects.get(user=clerk).body
    assert len(mail.outbox) == 1
    assert SmsOutbox.objects.get().phone == "13800001111"
    assert Reminder.objects.get().status == Reminder.Status.SENT


@pytest.mark.django_db
def test_a_refused_address_is_a_permanent_failure_shown_on_the_status_page(
    clerk, patient, data_admin, client_for
):
    import smtplib

    clerk.email = "nobody@bureau.example"
    clerk.save()
    temporary_filing(clerk, patient, D(2025, 3, 1))
    ids = delivery.create_deliveries(reminders.run_reminders(D(2025, 8, 2)).created)
    email = Delivery.objects.get(pk__in=ids, channel="email")
    refused = smtplib.SMTPRecipientsRefused({"nobody@bureau.example": (550, b"no such user")})
    with mock.patch("cases.delivery.send_mail", side_effect=refused):
        assert delivery.deliver(email.pk) == "failed"
    email.refresh_from_db()
    assert email.status == Delivery.Status.FAILED
    for other in ids:
        delivery.deliver(other)
    assert Reminder.objects.get().status == Reminder.Status.FAILED
    reminders_job = JobRun.objects.create(day=D(2025, 8, 2), summary="示例")
    body = client_for(data_admin).get(reverse("status")).content.decode()
    assert "收件地址被拒绝" in body
    assert reminders_job.summary in body


@pytest.mark.django_db
def test_a_transient_failure_releases_the_claim_for_a_retry(clerk, patient):
    temporary_filing(clerk, patient, D(2025, 3, 1))
    ids = delivery.create_deliveries(reminders.run_reminders(D(2025, 8, 2)).created)
    sms = Delivery.objects.get(pk__in=ids, channel="sms")
    down = mock.patch.object(delivery.OutboxSmsGateway, "send", side_effect=OSError("gateway down"))
    with down, pytest.raises(delivery.TransientDeliveryError):
        delivery.deliver(sms.pk)
    sms.refresh_from_db()
    assert (sms.status, sms.attempts) == (Delivery.Status.PENDING, 1)
    assert delivery.deliver(sms.pk) == "sent"


@pytest.mark.django_db
def test_run_reminders_command_takes_a_date(clerk, patient):
    from io import StringIO

    from django.core.management import call_command

    temporary_filing(clerk, patient, D(2025, 3, 1))
    out = StringIO()
    call_command("run_reminders", "--date", "2025-08-02", stdout=out)
    assert "新提醒 1" in out.getvalue()
    assert JobRun.objects.get().day == D(2025, 8, 2)


def test_daily_job_is_in_the_beat_schedule_at_eight(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["daily-reminders"]
    assert entry["task"] == "cases.tasks.run_daily_reminders"
    assert entry["schedule"].hour == {8}
    assert entry["schedule"].minute == {0}
    assert settings.CELERY_TIMEZONE == "Asia/Shanghai"


@pytest.mark.django_db
def test_inbox_page_lists_the_clerks_messages(clerk, patient, client_for):
    temporary_filing(clerk, patient, D(2025, 3, 1))
    for delivery_id in delivery.create_deliveries(reminders.run_reminders(D(2025, 8, 2)).created):
        delivery.deliver(delivery_id)
    client = client_for(clerk)
    body = client.get(reverse("inbox")).content.decode()
    assert "将于30天后到期" in body
    note = Notification.objects.get(user=clerk)
    client.post(reverse("inbox_read", args=[note.pk]))
    note.refresh_from_db()
    assert note.read_at is not None
