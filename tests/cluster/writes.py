"""Writes for the restore drill (run as a program with DATABASE_URL naming the server):
``COUNT`` patients named ``TAG0…``, each with a selection and a temporary filing ending in
20 days, then the reminder job, which gives each filing its 30-day reminder."""

from __future__ import annotations

import datetime as dt
import secrets
import sys

import django

django.setup()

from cases import facts  # noqa: E402
from cases.access import system  # noqa: E402
from cases.reminders import run_reminders  # noqa: E402
from cases.rules import add_months, resident_id_check_char  # noqa: E402
from cases.services.filings import filing_create  # noqa: E402
from cases.services.patients import patient_register  # noqa: E402
from cases.services.selections import selection_add  # noqa: E402
from institutions.models import Region  # noqa: E402
from portal.models import Role, User  # noqa: E402
from tests import factories  # noqa: E402
from tests.conftest import make_bureau, make_user  # noqa: E402


def unique_id() -> str:
    """A valid resident ID no earlier run of this program is likely to have made."""
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=secrets.randbelow(14000))
    body = f"451202{birth:%Y%m%d}{secrets.randbelow(1000):03d}"
    return body + resident_id_check_char(body)


def main(tag: str, count: int) -> None:
    bureau = make_bureau("451202")
    clerk = User.objects.filter(username="drill_clerk").first() or make_user(
        "drill_clerk", Role.CLERK, bureau
    )
    today = facts.today()
    filed_on = add_months(today + dt.timedelta(days=20), -6)
    with system("restore drill"):
        home = factories.institution("H45120200001", level=3)
        with facts.as_of(filed_on):
            for n in range(count):
                patient = patient_register(
                    by=clerk,
                    cert_type="resident_id",
                    cert_number=unique_id(),
                    name=f"{tag}{n}",
                    insurance_type="390",
                    today=filed_on,
                ).patient
                selection_add(by=clerk, patient=patient, institution=home, start=filed_on)
                filing_create(
                    by=clerk,
                    patient=patient,
                    type="temporary",
                    subtype="other",
                    destination=Region.objects.get(code="440100"),
                    start=filed_on,
                    materials=["identity"],
                )
        run_reminders(today)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
