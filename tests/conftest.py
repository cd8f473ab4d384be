"""Shared fixtures: reference data loaded once, personas, fast test settings."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from django.test import Client

from institutions import reference
from institutions.models import Region
from portal.models import Bureau, Role, User
from portal.services import user_create

PASSWORD = "Test-password-2026"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Load the reference data (regions, diseases, parameters) once for the session."""
    with django_db_blocker.unblock():
        reference.load_all()


@pytest.fixture(scope="session", autouse=True)
def _empty_test_queue():
    """Messages a previous run left on the test broker would reach this run's workers."""
    from portal.celery import app

    # No broker yet, or no queue: nothing to empty.
    with contextlib.suppress(Exception), app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")


@pytest.fixture(autouse=True)
def _empty_cache():
    """Cached statistics (the dashboard's chart) never leak from one test to the next."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _fast_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def regions(db: None) -> None:
    """Reference data, reloaded if a transactional test flushed it."""
    if not Region.objects.filter(code="450000").exists():
        reference.load_all()


def make_bureau(county_code: str) -> Bureau:
    county = Region.objects.get(code=county_code)
    bureau, _ = Bureau.objects.get_or_create(
        county=county, defaults={"name": f"{county.full_name}医疗保障局"}
    )
    return bureau


def make_user(username: str, role: str, bureau: Bureau | None) -> User:
    return user_create(username=username, password=PASSWORD, role=role, bureau=bureau)


@pytest.fixture
def bureau(regions: None) -> Bureau:
    return make_bureau("451202")  # 河池市金城江区


@pytest.fixture
def other_bureau(regions: None) -> Bureau:
    return make_bureau("450202")  # 柳州市城中区


@pytest.fixture
def clerk(bureau: Bureau) -> User:
    return make_user("clerk", Role.CLERK, bureau)


@pytest.fixture
def reviewer(bureau: Bureau) -> User:
    return make_user("reviewer", Role.REVIEWER, bureau)


@pytest.fixture
def bureau_admin(bureau: Bureau) -> User:
    return make_user("badmin", Role.BUREAU_ADMIN, bureau)


@pytest.fixture
def other_clerk(other_bureau: Bureau) -> User:
    return make_user("other_clerk", Role.CLERK, other_bureau)


@pytest.fixture
def hechi_supervisor(regions: None) -> User:
    """Oversight: 河池市医疗保障局 reads every county of 河池 (金城江区 among them)."""
    return make_user("hechi_supervisor", Role.SUPERVISOR, make_bureau("451200"))


@pytest.fixture
def liuzhou_supervisor(regions: None) -> User:
    """Oversight of another prefecture: 柳州市医疗保障局."""
    return make_user("liuzhou_supervisor", Role.SUPERVISOR, make_bureau("450200"))


@pytest.fixture
def region_supervisor(regions: None) -> User:
    """Oversight of all Guangxi: 广西壮族自治区医疗保障局."""
    return make_user("region_supervisor", Role.SUPERVISOR, make_bureau("450000"))


@pytest.fixture
def data_admin(regions: None) -> User:
    return make_user("dataadmin", Role.DATA_ADMIN, None)


@pytest.fixture
def client_for() -> Callable[[User], Client]:
    """client_for(user) -> a test client logged in as that user."""

    def login(user: User) -> Client:
        c = Client()
        c.force_login(user)
        if user.role in ("data_admin", "bureau_admin"):
            # These roles must pass the second factor; sign in as having done so.
            from django_otp.plugins.otp_totp.models import TOTPDevice

            device = TOTPDevice.objects.create(user=user, name="测试", confirmed=True)
            session = c.session
            session["otp_device_id"] = device.persistent_id
            session.save()
        return c

    return login
