"""Seeds a cluster test's primary (run as a program with DATABASE_URL naming it): a county
bureau with four clerks and their sessions, and patients whose temporary filings end in
20 days (the reminder job has work). Prints the sessions and counts as JSON."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402

from cases import facts  # noqa: E402
from cases.access import system  # noqa: E402
from cases.rules import add_months  # noqa: E402
from cases.services.filings import filing_create  # noqa: E402
from institutions.models import Region  # noqa: E402
from portal.models import Role  # noqa: E402
from tests import factories  # noqa: E402
from tests.conftest import make_bureau, make_user  # noqa: E402

EXPIRING = 12


def session_for(user) -> str:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session["login_at"] = time.time()
    session.set_expiry(3600)
    session.create()
    return str(session.session_key)


def main() -> None:
    bureau = make_bureau("451202")
    clerks = [make_user(f"node_clerk{i}", Role.CLERK, bureau) for i in range(4)]
    today = facts.today()
    # Filed on the day that makes them end 20 days from today (FL-3: six months).
    filed_on = add_months(today + dt.timedelta(days=20), -6)
    with system("cluster test seed"), facts.as_of(filed_on):
        for n in range(EXPIRING):
            patient = factories.patient(clerks[0], name=f"到期示例{n}", day=filed_on)
            filing_create(
                by=clerks[0],
                patient=patient,
                type="temporary",
                subtype="other",
                destination=Region.objects.get(code="440100"),
                start=filed_on,
                materials=["identity"],
            )
    json.dump({"sessions": [session_for(c) for c in clerks], "expiring": EXPIRING}, sys.stdout)


if __name__ == "__main__":
    main()
