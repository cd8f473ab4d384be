"""Login protection, sessions, two-factor login, CSRF and security headers."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def login(client, username, password=PASSWORD):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR="10.1.1.1"
    )


def test_lockout_after_repeated_failures_and_release_after_cooloff(clerk, reviewer, settings):
    settings.AXES_COOLOFF_TIME = 2 / 3600  # two seconds
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "clerk", "wrong").status_code == 200
    assert login(client, "clerk", "wrong").status_code == 429  # the limit is reached
    locked = login(client, "clerk")  # now even the right password is refused
    assert locked.status_code == 429
    assert "登录失败次数过多" in locked.content.decode()
    # The same office address is not locked for a colleague.
    assert login(Client(), "reviewer").status_code == 302
    time.sleep(2.5)
    assert login(client, "clerk").status_code == 302


def test_failed_logins_are_recorded(clerk):
    from axes.models import AccessAttempt, AccessLog

    login(Client(), "clerk", "wrong")
    login(Client(), "clerk")
    assert AccessAttempt.objects.filter(username="clerk").exists() or AccessLog.objects.exists()
    assert AccessLog.objects.filter(username="clerk").exists()


def test_sessions_expire_when_idle_and_after_ten_hours(client_for, clerk, settings):
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    client = client_for(clerk)
    assert client.get(reverse("home")).status_code == 200
    # Activity renews the idle limit (at most once a minute, not a write per request).
    session = client.session
    session["seen_at"] = time.time() - 61
    session.save()
    from django.contrib.sessions.models import Session

    def stored_expiry():
        return Session.objects.get(session_key=client.session.session_key).expire_date

    before = stored_expiry()
    time.sleep(0.01)
    client.get(reverse("home"))
    assert stored_expiry() > before
    renewed = stored_expiry()
    client.get(reverse("home"))
    assert stored_expiry() == renewed
    session = client.session
    session["login_at"] = time.time() - 10 * 60 * 60 - 1
    session.save()
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert client.get(reverse("home")).status_code == 302  # logged out


def test_administrators_must_set_up_two_factor(data_admin, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # no waiting after the deliberate wrong code
    client = Client()
    client.force_login(data_admin)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"] == reverse("two_factor_setup")
    setup = client.get(reverse("two_factor_setup"))
    assert "<svg" in setup.content.decode()
    device = TOTPDevice.objects.get(user=data_admin, confirmed=False)
    wrong = client.post(reverse("two_factor_setup"), {"token": "000000"})
    assert "验证码不正确" in wrong.content.decode()
    done = client.post(reverse("two_factor_setup"), {"token": f"{totp(device.bin_key):06d}"})
    codes = done.content.decode().split("<li>")[1:]
    assert len(codes) == 10
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_second_login_asks_for_the_code_and_accepts_a_recovery_code_once(data_admin):
    from django_otp.plugins.otp_static.models import StaticDevice

    TOTPDevice.objects.create(user=data_admin, name="手机", confirmed=True)
    static = StaticDevice.objects.create(user=data_admin, name="恢复码")
    static.token_set.create(token="abcd1234")
    client = Client()
    client.force_login(data_admin)
    response = client.get(reverse("status"))
    assert response["Location"].startswith(reverse("two_factor_verify"))
    assert (
        client.post(reverse("two_factor_verify"), {"token": "abcd1234", "next": "/status/"})[
            "Location"
        ]
        == "/status/"
    )
    assert client.get(reverse("status")).status_code == 200
    again = Client()
    again.force_login(data_admin)
    refused = again.post(reverse("two_factor_verify"), {"token": "abcd1234"})
    assert "验证码不正确" in refused.content.decode()


def test_two_factor_is_optional_for_clerks(clerk):
    client = Client()
    client.force_login(clerk)
    assert client.get(reverse("home")).status_code == 200


def test_posts_without_a_csrf_token_are_refused(clerk):
    client = Client(enforce_csrf_checks=True)
    client.force_login(clerk)
    response = client.post(reverse("patient_register"), {"cert_type": "resident_id"})
    assert response.status_code == 403
    assert client.post(reverse("logout")).status_code == 403


def test_security_headers(client_for, clerk):
    response = client_for(clerk).get(reverse("home"))
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_production_uses_argon2_and_secure_cookies():
    import subprocess
    import sys

    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.PASSWORD_HASHERS[0], s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS)"
    )
    env = {
        "PORTAL_ENV": "production",
        "SECRET_KEY": "s" * 50,
        "ALLOWED_HOSTS": "x.example",
        "DATABASE_URL": "postgres://u@db/x",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.stdout.split() == [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "True",
        "True",
        "31536000",
    ]


def test_unmasking_is_permitted_by_role_and_audited(client_for, clerk, bureau_admin):
    from portal.models import AuditEvent
    from tests import factories

    patient = factories.patient(clerk)
    masked = client_for(clerk).get(reverse("patient_detail", args=[patient.pk])).content.decode()
    assert patient.cert_number not in masked
    assert not AuditEvent.objects.filter(action="unmask").exists()
    full = (
        client_for(bureau_admin).get(reverse("patient_detail", args=[patient.pk])).content.decode()
    )
    assert patient.cert_number in full
    event = AuditEvent.objects.get(action="unmask")
    assert event.user == bureau_admin
    assert str(patient.pk) in event.detail


def test_bureau_admin_manages_only_their_bureau_and_the_unmask_permission(
    client_for, bureau_admin, clerk, other_clerk
):
    from django.contrib.auth.models import Permission

    client = client_for(bureau_admin)
    listing = client.get(reverse("admin:portal_user_changelist")).content.decode()
    assert "clerk" in listing
    assert "other_clerk" not in listing
    assert client.get(reverse("admin:portal_user_change", args=[other_clerk.pk])).status_code == 404
    page = client.get(reverse("admin:portal_user_change", args=[clerk.pk]))
    permissions = page.context["adminform"].form.fields["user_permissions"].queryset
    assert list(permissions.values_list("codename", flat=True)) == ["unmask_patient"]
    roles = [value for value, _ in page.context["adminform"].form.fields["role"].choices]
    assert "data_admin" not in roles
    unmask = Permission.objects.get(codename="unmask_patient")
    response = client.post(
        reverse("admin:portal_user_change", args=[clerk.pk]),
        {
            "username": "clerk",
            "last_name": "",
            "first_name": "",
            "email": "",
            "phone": "",
            "role": "clerk",
            "is_active": "on",
            "user_permissions": [unmask.pk],
        },
    )
    assert response.status_code == 302
    clerk.refresh_from_db()
    assert clerk.user_permissions.filter(codename="unmask_patient").exists()
    assert clerk.bureau == bureau_admin.bureau
