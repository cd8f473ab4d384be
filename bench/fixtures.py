"""Sessions and sample inputs for one benchmark database (the bench_fixtures command,
run by bench.runner with DATABASE_URL naming that database).

Sessions are issued directly (SessionStore), the way a login would leave them, so the
timed load is the clerks' work and not fifty Argon2 password checks. The data
administrator's session carries a verified TOTP device, as after a real second factor.
"""

from __future__ import annotations

import random
import time
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db.models import Max, Min
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases.facts import today
from cases.models import Filing, Patient, Qualification
from institutions.models import Institution, Region
from portal.models import Bureau, Role, User
from portal.services import user_sync_role


def _sample_rows(model: Any, count: int, rng: random.Random, **filters: Any) -> list[Any]:
    """About `count` rows spread over the table, found by random id probes (no ORDER BY
    random() over millions of rows)."""

    qs = model._default_manager.filter(**filters)
    bounds = qs.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return []
    if not isinstance(bounds["low"], int):  # a code as primary key: a small table
        total = qs.count()
        return [qs.order_by("pk")[rng.randrange(total)] for _ in range(count)]
    rows = []
    for _ in range(count):
        probe = rng.randint(bounds["low"], bounds["high"])
        row = qs.filter(pk__gte=probe).order_by("pk").first()
        if row is not None:
            rows.append(row)
    return rows


def _session_for(
    user: Any,
    otp_device: Any = None,
    searches: dict[str, Any] | None = None,
    admin_searches: dict[str, str] | None = None,
) -> str:
    """A signed-in session for ``user``; ``searches`` are kept in it as the search form
    keeps a posted search (portal.searches.remember), so that a search by ID
    number is measured as clerks reach its results: by key, the number not in the URL."""

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session["login_at"] = time.time()
    if otp_device is not None:
        session["otp_device_id"] = otp_device.persistent_id
    else:
        session["otp_not_needed"] = True
    if searches:
        session["patient_searches"] = searches
    if admin_searches:
        # The admin's search form keeps a term the same way (portal.admin_base).
        session["admin_searches"] = admin_searches
    session.set_expiry(12 * 3600)  # the bench outlives the 30-minute idle limit
    session.create()
    return str(session.session_key)


def _search_term(row: Any, field: str) -> str:
    value: Any = row
    for part in field.lstrip("=^@").split("__"):
        if part in ("contains", "icontains", "exact", "iexact", "startswith"):
            break
        value = getattr(value, part, None)
        if value is None:
            return ""
    return str(value).split("|")[0]


def _clerk_samples(clerk: Any, count: int, rng: random.Random) -> dict[str, Any]:
    """A clerk's session and inputs from their own bureau's patients."""

    patients = _sample_rows(Patient, count, rng, bureau=clerk.bureau)
    approved = {
        q.patient_id: q
        for q in Qualification.objects.filter(patient__in=patients, status="approved")
    }
    checks = []
    for patient in patients:
        qualification = approved.get(patient.pk)
        selection = patient.selections.select_related("institution").first()
        if qualification and selection:
            checks.append(
                {
                    "pid": patient.pk,
                    "institution": selection.institution.code,
                    "disease": qualification.disease_id,
                }
            )
    searches = {f"id{p.pk}": {"q": p.cert_number} for p in patients}
    return {
        "session": _session_for(clerk, searches=searches),
        "search_id": list(searches),
        "search_name": [p.name for p in patients],
        "search_pinyin": [p.name_initials.split("|")[0] for p in patients],
        "patient_ids": [p.pk for p in patients],
        "settlement": checks,
    }


def _supervisor(code: str) -> Any:
    """The oversight user of the bureau of division ``code`` (a prefecture, the region)."""
    division = Region.objects.get(code=code)
    bureau, _ = Bureau.objects.get_or_create(
        county=division, defaults={"name": f"{division.name}医疗保障局"}
    )
    user, _ = User.objects.update_or_create(
        username=f"bench_supervisor_{code}",
        defaults={"role": Role.SUPERVISOR, "bureau": bureau, "is_staff": False},
    )
    user_sync_role(user=user)
    return user


def _statistics(clerk: Any, samples: int) -> dict[str, Any]:
    """Sessions of the three levels — the first clerk's county, its prefecture, the
    region — and the filters a supervisor tries, in turn."""
    county = clerk.bureau.county_id
    prefecture = county[:4] + "00"
    this_month = today().replace(day=1)
    quarter = f"first={this_month.year}-{max(1, this_month.month - 2):02d}"
    variants = ["", "?insurance_type=310", "?disease=M03900", f"?{quarter}", "?disease=M01600"]
    paths = [f"/statistics/{variants[i % len(variants)]}" for i in range(samples)]
    below = {"prefecture": f"?area={county}", "region": f"?area={prefecture}"}
    return {
        "statistics_sessions": {
            "county": _session_for(clerk),
            "prefecture": _session_for(_supervisor(prefecture)),
            "region": _session_for(_supervisor("450000")),
        },
        "statistics_paths": paths,
        "statistics_below": below,
    }


def prepare(clerks: int, samples: int, seed: int = 8) -> dict[str, Any]:

    rng = random.Random(seed)  # noqa: S311 - sampling, not secrets
    clerk_users = list(
        User.objects.filter(username__startswith="scale_clerk_")
        .select_related("bureau")
        .order_by("username")[:clerks]
    )
    for clerk in clerk_users:  # a database seeded before roles were synced there
        user_sync_role(user=clerk)
    # The first clerk is measured page by page; all of them make the concurrent load.
    first = _clerk_samples(clerk_users[0], samples, rng)
    crowd = [first] + [_clerk_samples(c, min(samples, 20), rng) for c in clerk_users[1:]]
    admin_user, _ = User.objects.update_or_create(
        username="bench_data_admin",
        defaults={"role": Role.DATA_ADMIN, "is_staff": True, "is_superuser": True},
    )
    device, _ = TOTPDevice.objects.get_or_create(
        user=admin_user, name="bench", defaults={"confirmed": True}
    )
    changelists: dict[str, list[str]] = {}
    keyed: list[str] = []  # the portal's own admins search by a kept key (admin_base)
    for model, model_admin in admin.site._registry.items():
        fields = [f for f in model_admin.search_fields if not f.startswith("@")][:2]
        if not fields:
            continue
        rows = _sample_rows(model, samples, rng)
        terms = [
            t for i, row in enumerate(rows) if (t := _search_term(row, fields[i % len(fields)]))
        ]
        if terms:
            key = f"{model._meta.app_label}/{model._meta.model_name}"
            changelists[key] = terms
            if getattr(model_admin, "keyed_search", False):
                keyed.append(key)
    return {
        "patients": Patient.objects.count(),
        "filings": Filing.objects.count(),
        "institutions": Institution.objects.count(),
        **first,
        "clerks": crowd,
        "admin_session": _session_for(
            admin_user,
            device,
            admin_searches={
                f"{key}:{i}": term
                for key, terms in changelists.items()
                for i, term in enumerate(terms)
            },
        ),
        "changelists": changelists,
        "keyed_changelists": keyed,
        **_statistics(clerk_users[0], samples),
    }
