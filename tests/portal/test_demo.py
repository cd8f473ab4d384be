"""The demo data loads, is idempotent, and has records in every state."""

import datetime as dt
import io

import pytest
from django.core.management import call_command

from cases.models import Filing, Patient, Qualification, Selection, TransferLetter
from institutions.models import Institution
from portal.models import Bureau, User

pytestmark = pytest.mark.django_db


def test_demo_data_loads_once_with_every_state(regions):
    out = io.StringIO()
    call_command("load_demo_data", stdout=out)
    assert "Mente-demo-2026" in out.getvalue()
    counts = (Bureau.objects.count(), Institution.objects.count(), Patient.objects.count())
    call_command("load_demo_data", "--quiet-accounts", stdout=io.StringIO())
    assert (Bureau.objects.count(), Institution.objects.count(), Patient.objects.count()) == counts

    assert Bureau.objects.filter(county__level=3).count() == 21
    assert Bureau.objects.count() == 24  # and 河池市, 柳州市, the region: oversight
    assert User.objects.filter(username="supervisor_450000", role="supervisor").exists()
    assert "supervisor_451200" in out.getvalue()
    from cases.models import Figure

    assert Figure.objects.exists()  # the statistics, refreshed after the demo cases
    assert User.objects.filter(username="clerk_451202", role="clerk").exists()
    assert User.objects.filter(username="dataadmin", role="data_admin", is_staff=True).exists()
    assert Institution.objects.count() == 50
    outside = Institution.objects.exclude(location__code__startswith="45")
    assert len({code[1:3] for code in outside.values_list("code", flat=True)}) >= 4
    assert Patient.objects.count() >= 200
    assert all("示例" in name for name in Patient.objects.values_list("name", flat=True))
    statuses = set(Qualification.objects.values_list("status", flat=True))
    assert {"submitted", "approved", "rejected"} <= statuses
    assert set(Selection.objects.values_list("scope", flat=True)) == {
        "in_city",
        "in_region",
        "cross_province",
    }
    assert set(Filing.objects.values_list("type", flat=True)) == {"long_term", "temporary"}
    assert TransferLetter.objects.exists()
    today = dt.date.today()
    soon = Filing.objects.filter(
        type="temporary", end__gte=today, end__lt=today + dt.timedelta(days=30)
    )
    assert soon.exists()


def test_demo_data_is_refused_in_production(settings):
    from django.core.management.base import CommandError

    settings.PRODUCTION = True
    with pytest.raises(CommandError):
        call_command("load_demo_data", stdout=io.StringIO())
