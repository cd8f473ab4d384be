"""The admin site's permission matrix, like the portal's (tests/test_permission_matrix.py).

Every admin URL is found from the admin site itself: each registered ModelAdmin's own
URLs (changelist, add, change, delete, history, django-simple-history's version page,
import/export, password, any custom view a package adds) and the site's. For each role
it asserts the status of a GET and, for a POST carrying a hostile payload (a rename,
superuser and staff flags, another bureau, an approval, a delete confirmation, a bulk
delete action), that the subject row is unchanged wherever the role may not change it.
A new admin URL without an entry here fails ``test_every_admin_url_has_a_matrix_entry``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases.models import CodeMapping, InsuredPeriod, Reminder
from institutions.models import Disease, NetworkedSettlement, PolicyParameter, Region
from portal.admin_base import HistoryAdmin, ScopedAdmin
from portal.models import AuditEvent, Heartbeat, Role, User
from tests import factories
from tests.conftest import make_bureau, make_user
from tests.test_permission_matrix import ask_to_move

pytestmark = pytest.mark.django_db
DAY = dt.date(2025, 3, 1)
ROLES = ("anonymous", "clerk", "reviewer", "badmin", "other_badmin", "dataadmin", "superuser")

# Expected GET status per role, in ROLES order.
NOT_STAFF = (302, 302, 302)
CASE = {  # a case record of the first bureau: read-only in the admin, scoped
    "changelist": (*NOT_STAFF, 200, 200, 403, 200),
    "add": (*NOT_STAFF, 403, 403, 403, 403),
    "change": (*NOT_STAFF, 200, 404, 403, 200),
    "delete": (*NOT_STAFF, 403, 403, 403, 403),
    "history": (*NOT_STAFF, 200, 404, 404, 200),
    "simple_history": (*NOT_STAFF, 200, 404, 404, 200),
    "redirect": (*NOT_STAFF, 302, 302, 302, 302),
}
REFERENCE = {  # reference data: data administrators and superusers
    "changelist": (*NOT_STAFF, 403, 403, 200, 200),
    "add": (*NOT_STAFF, 403, 403, 200, 200),
    "change": (*NOT_STAFF, 403, 403, 200, 200),
    "delete": (*NOT_STAFF, 403, 403, 200, 200),
    "history": (*NOT_STAFF, 403, 403, 200, 200),
    "simple_history": (*NOT_STAFF, 403, 403, 200, 200),
    "import": (*NOT_STAFF, 403, 403, 200, 200),
    "export": (*NOT_STAFF, 403, 403, 200, 200),
    "process_import": (*NOT_STAFF, 403, 403, 405, 405),  # POST only, to those who may
    "redirect": (*NOT_STAFF, 302, 302, 302, 302),
}
SUPERUSER_ONLY = {
    "changelist": (*NOT_STAFF, 403, 403, 403, 200),
    "add": (*NOT_STAFF, 403, 403, 403, 200),
    "change": (*NOT_STAFF, 403, 403, 403, 200),
    "delete": (*NOT_STAFF, 403, 403, 403, 200),
    "history": (*NOT_STAFF, 403, 403, 403, 200),
    "redirect": (*NOT_STAFF, 302, 302, 302, 302),
    # django-otp's views of a device's secret: never shown (OTP_ADMIN_HIDE_SENSITIVE_DATA).
    "config": (*NOT_STAFF, 403, 403, 403, 403),
    "qrcode": (*NOT_STAFF, 403, 403, 403, 403),
}
AXES = {**SUPERUSER_ONLY, "add": (*NOT_STAFF, 403, 403, 403, 403)}

# model label -> (expected statuses by kind, roles that may change its rows: for every
# kind, or by kind with "*" for the rest)
MODELS: dict[str, tuple[dict[str, tuple[int, ...]], Any]] = {
    "cases.patient": (CASE, set()),
    "cases.qualification": (CASE, set()),
    "cases.selection": (CASE, set()),
    "cases.filing": (CASE, set()),
    "cases.transferletter": (CASE, set()),
    "cases.reminder": ({**CASE, "history": (*NOT_STAFF, 200, 404, 404, 200)}, set()),
    "cases.insuredperiod": (CASE, set()),
    # A request is its two bureaus' (here the first bureau answers it), and every
    # request is a data administrator's to see: read-only for all.
    "cases.moverequest": (
        {
            "changelist": (*NOT_STAFF, 200, 200, 200, 200),
            "add": (*NOT_STAFF, 403, 403, 403, 403),
            "change": (*NOT_STAFF, 200, 404, 200, 200),
            "delete": (*NOT_STAFF, 403, 403, 403, 403),
            "history": (*NOT_STAFF, 200, 404, 200, 200),
            "simple_history": (*NOT_STAFF, 200, 404, 200, 200),
            "redirect": CASE["redirect"],
        },
        set(),
    ),
    "portal.bureau": (
        {
            "changelist": (*NOT_STAFF, 200, 200, 200, 200),
            "add": (*NOT_STAFF, 403, 403, 200, 200),
            "change": (*NOT_STAFF, 200, 404, 200, 200),
            "delete": (*NOT_STAFF, 403, 403, 403, 200),
            "history": (*NOT_STAFF, 200, 404, 200, 200),
            "simple_history": (*NOT_STAFF, 200, 404, 200, 200),
            "redirect": CASE["redirect"],
        },
        {"dataadmin", "superuser"},
    ),
    # The subject is a clerk of the first bureau. A data administrator sees the account
    # but may not change it: a clerk holds case permissions the data administrator lacks.
    "portal.user": (
        {
            "changelist": (*NOT_STAFF, 200, 200, 200, 200),
            "add": (*NOT_STAFF, 200, 200, 200, 200),
            "change": (*NOT_STAFF, 200, 404, 200, 200),
            "delete": (*NOT_STAFF, 403, 403, 403, 200),
            "password_change": (*NOT_STAFF, 200, 404, 403, 200),
            "history": (*NOT_STAFF, 200, 404, 200, 200),
            "simple_history": (*NOT_STAFF, 200, 404, 200, 200),
            "redirect": CASE["redirect"],
        },
        {
            # Adding an account within one's own rights (another clerk, another data
            # administrator) is what these roles are for.
            "add": {"badmin", "other_badmin", "dataadmin", "superuser"},
            "*": {"badmin", "superuser"},
        },
    ),
    "portal.heartbeat": (
        {
            "changelist": (*NOT_STAFF, 403, 403, 200, 200),
            "add": (*NOT_STAFF, 403, 403, 403, 403),
            "change": (*NOT_STAFF, 403, 403, 200, 200),
            "delete": (*NOT_STAFF, 403, 403, 403, 200),
            "history": (*NOT_STAFF, 403, 403, 200, 200),
            "redirect": CASE["redirect"],
        },
        {"superuser"},
    ),
    "portal.auditevent": (
        {
            "changelist": (*NOT_STAFF, 200, 200, 200, 200),
            "add": (*NOT_STAFF, 403, 403, 403, 403),
            "change": (*NOT_STAFF, 200, 404, 200, 200),
            "delete": (*NOT_STAFF, 403, 403, 403, 403),
            "history": (*NOT_STAFF, 200, 404, 200, 200),
            "redirect": CASE["redirect"],
        },
        set(),
    ),
    "institutions.region": (REFERENCE, {"dataadmin", "superuser"}),
    # With the platform's 1309 catalogue import (a preview first, a POST to confirm).
    "institutions.disease": (
        {**REFERENCE, "import_1309": (*NOT_STAFF, 403, 403, 200, 200)},
        {"dataadmin", "superuser"},
    ),
    "cases.codemapping": (REFERENCE, {"dataadmin", "superuser"}),
    "institutions.institution": (REFERENCE, {"dataadmin", "superuser"}),
    "institutions.networkedsettlement": (REFERENCE, {"dataadmin", "superuser"}),
    "institutions.policyparameter": (REFERENCE, {"dataadmin", "superuser"}),
    "auth.group": (SUPERUSER_ONLY, {"superuser"}),
    "otp_totp.totpdevice": (SUPERUSER_ONLY, {"superuser"}),
    "otp_static.staticdevice": (SUPERUSER_ONLY, {"superuser"}),
    "axes.accessattempt": (AXES, {"superuser"}),
    "axes.accesslog": (AXES, {"superuser"}),
    "axes.accessfailurelog": (AXES, {"superuser"}),
}

# The site's own URLs (not a model's): name -> GET statuses.
SITE = {
    "index": (*NOT_STAFF, 200, 200, 200, 200),
    # One login page for the portal and the admin: a signed-in user is refused.
    "login": (302, 403, 403, 403, 403, 403, 403),
    "logout": (302, 302, 302, 405, 405, 405, 405),  # POST only
    "password_change": (*NOT_STAFF, 200, 200, 200, 200),
    "password_change_done": (*NOT_STAFF, 200, 200, 200, 200),
    "autocomplete": (*NOT_STAFF, 403, 403, 403, 403),  # without its parameters
    "jsi18n": (*NOT_STAFF, 200, 200, 200, 200),
    # The subject has no page on the site: 404 whoever asks, existing or not.
    "view_on_site": (*NOT_STAFF, 404, 404, 404, 404),
    # The case records app: a data administrator sees the transfer requests in it.
    "app_list": (*NOT_STAFF, 200, 200, 200, 200),
    "catch_all": (*NOT_STAFF, 404, 404, 404, 404),
}

HOSTILE = {
    "name": "篡改",
    "last_name": "篡改",
    "username": "hijacked",
    "is_superuser": "on",
    "is_staff": "on",
    "is_active": "on",
    "role": "data_admin",
    "status": "approved",
    "value": "99",
    "post": "yes",
    "action": "delete_selected",
    "index": "0",
    "select_across": "1",
    "password1": "Another-password-2026",
    "password2": "Another-password-2026",
    "_save": "保存",
}


def kind_of(model_admin: Any, name: str) -> str:
    prefix = f"{model_admin.opts.app_label}_{model_admin.opts.model_name}_"
    if name == "auth_user_password_change":
        return "password_change"
    return name.removeprefix(prefix)


def admin_urls() -> dict[str, tuple[str, str]]:
    """Every URL the admin site answers: key -> (model label or "site", kind)."""
    found: dict[str, tuple[str, str]] = {}
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label_lower
        for pattern in model_admin.get_urls():
            assert isinstance(pattern, URLPattern)
            kind = kind_of(model_admin, pattern.name) if pattern.name else "redirect"
            found[f"{label}:{kind}"] = (label, kind)
    site_names = {p.name for p in admin.site.get_urls() if isinstance(p, URLPattern)}
    for name in site_names:
        found[f"site:{name or 'catch_all'}"] = ("site", name or "catch_all")
    return found


def expected_keys() -> set[str]:
    keys = {f"{label}:{kind}" for label, (kinds, _) in MODELS.items() for kind in kinds}
    keys |= {f"site:{name}" for name in SITE}
    return keys


def test_every_admin_url_has_a_matrix_entry():
    found = set(admin_urls())
    # Each model's table lists only the kinds it has (e.g. no import for regions).
    expected = {k for k in expected_keys() if k in found}
    assert found - expected == set(), "admin URLs without a matrix entry"
    assert set(MODELS) == {m._meta.label_lower for m in admin.site._registry}, (
        "registered models without a matrix entry"
    )


def test_every_project_admin_is_scoped_and_its_history_read_only():
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label in ("cases", "institutions", "portal"):
            assert isinstance(model_admin, ScopedAdmin), model
            if hasattr(model, "history"):
                assert isinstance(model_admin, HistoryAdmin), model


@pytest.fixture
def world(clerk, reviewer, bureau_admin, other_bureau, data_admin):
    other_badmin = make_user("other_badmin", Role.BUREAU_ADMIN, other_bureau)
    root = make_user("root", Role.DATA_ADMIN, None)
    User.objects.filter(pk=root.pk).update(is_superuser=True, is_staff=True)
    root.refresh_from_db()
    case = factories.case_file(clerk, reviewer, DAY)
    reminder = Reminder.objects.create(
        filing=case["filing"],
        patient=case["patient"],
        bureau=clerk.bureau,
        stage="30",
        due_on=DAY,
        record_end=DAY,
    )
    holder = make_user("holder", Role.CLERK, clerk.bureau)  # devices of another clerk
    TOTPDevice.objects.create(user=holder, name="手机", confirmed=True)
    StaticDevice.objects.create(user=holder, name="恢复码")
    now = timezone.now()
    axes = {"username": "clerk", "ip_address": "10.0.0.1", "user_agent": "t", "path_info": "/"}
    subjects: dict[str, Model] = {
        "cases.patient": case["patient"],
        "cases.qualification": case["qualification"],
        "cases.selection": case["selection"],
        "cases.filing": case["filing"],
        "cases.transferletter": case["letter"],
        "cases.reminder": reminder,
        "cases.insuredperiod": InsuredPeriod.objects.get(patient=case["patient"]),
        "cases.moverequest": ask_to_move(case["patient"]),
        "portal.bureau": clerk.bureau,
        "portal.user": clerk,
        "portal.heartbeat": Heartbeat.objects.create(component="worker", last_seen_at=now),
        "portal.auditevent": AuditEvent.objects.create(user=clerk, action="print", detail="x"),
        "institutions.region": Region.objects.get(code="451202"),
        "cases.codemapping": _with_history(CodeMapping.objects.get(kind="gend", portal_value="M")),
        "institutions.disease": Disease.objects.get(code="M03900"),
        "institutions.institution": case["home"],
        "institutions.networkedsettlement": NetworkedSettlement.objects.filter(
            institution=case["home"]
        ).first(),
        "institutions.policyparameter": PolicyParameter.objects.first(),
        "auth.group": Group.objects.get(name="经办"),
        "otp_totp.totpdevice": TOTPDevice.objects.get(user=holder),
        "otp_static.staticdevice": StaticDevice.objects.get(user=holder),
        "axes.accessattempt": AccessAttempt.objects.create(
            **axes, get_data="", post_data="", failures_since_start=1, attempt_time=now
        ),
        "axes.accesslog": AccessLog.objects.create(**axes, attempt_time=now),
        "axes.accessfailurelog": AccessFailureLog.objects.create(**axes, attempt_time=now),
    }
    users = {
        "clerk": clerk,
        "reviewer": reviewer,
        "badmin": bureau_admin,
        "other_badmin": other_badmin,
        "dataadmin": data_admin,
        "superuser": root,
    }
    return {"subjects": subjects, "users": users, "other_bureau": other_bureau}


def _with_history(subject: Model) -> Model:
    """A row a migration seeded has no history yet: one save gives it its first version."""
    subject.save()
    return subject


def client_as(role: str, world: dict[str, Any], client_for: Any) -> Client:
    if role == "anonymous":
        return Client()
    user = world["users"][role]
    if user.is_superuser:
        client = Client()
        client.force_login(user)
        device = TOTPDevice.objects.create(user=user, name="测试", confirmed=True)
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
        return client
    return client_for(user)


def url_for(label: str, kind: str, subject: Model) -> str:
    app_label, model_name = label.split(".")
    base = f"admin:{app_label}_{model_name}"
    pk = subject.pk
    if kind in ("changelist", "add", "import", "export", "process_import", "import_1309"):
        return reverse(f"{base}_{kind}")
    if kind == "redirect":
        return reverse(f"{base}_changelist") + f"{pk}/"
    if kind == "password_change":
        return reverse("admin:auth_user_password_change", args=[pk])
    if kind in ("config", "qrcode"):
        return reverse(f"{base}_{kind}", args=[pk])
    if kind == "simple_history":
        history = type(subject).history  # type: ignore[attr-defined]
        version = history.filter(**{subject._meta.pk.attname: pk}).latest("history_id")
        return reverse(f"{base}_simple_history", args=[pk, version.history_id])
    return reverse(f"{base}_{kind}", args=[pk])


def snapshot(subject: Model) -> tuple[Any, ...]:
    model = type(subject)
    row = model._default_manager.filter(pk=subject.pk).values().first()
    extra: tuple[Any, ...] = ()
    if isinstance(subject, User):
        extra = (
            sorted(subject.groups.values_list("name", flat=True)),
            sorted(subject.user_permissions.values_list("codename", flat=True)),
        )
    return (row, model._default_manager.count(), *extra)


def hostile_payload(subject: Model, world: dict[str, Any]) -> dict[str, Any]:
    other = world["other_bureau"]
    return {
        **HOSTILE,
        "bureau": str(other.pk),
        "county": other.county_id,
        "reviewer": str(world["users"]["other_badmin"].pk),
        "_selected_action": [str(subject.pk)],
    }


@pytest.mark.parametrize("label", sorted(MODELS))
def test_admin_matrix(label, world, client_for):
    kinds, may_change = MODELS[label]
    subject = world["subjects"][label]
    present = {kind for key, (lab, kind) in admin_urls().items() if lab == label}
    urls = {kind: url_for(label, kind, subject) for kind in sorted(present)}
    clients = {role: client_as(role, world, client_for) for role in ROLES}
    problems = []
    for role_index, role in enumerate(ROLES):
        for kind, url in urls.items():
            status = clients[role].get(url).status_code
            if status != kinds[kind][role_index]:
                problems.append(
                    f"GET {kind} as {role}: {status}, expected {kinds[kind][role_index]}"
                )
    # Then the POSTs (a superuser's, last, may delete the subject).
    for role in ROLES:
        for kind, url in urls.items():
            before = snapshot(subject)
            posted = clients[role].post(url, hostile_payload(subject, world)).status_code
            if posted >= 500:
                problems.append(f"POST {kind} as {role}: {posted}")
            allowed = (
                may_change.get(kind, may_change["*"])
                if isinstance(may_change, dict)
                else may_change
            )
            if role not in allowed and snapshot(subject) != before:
                problems.append(f"POST {kind} as {role} changed the row")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(SITE))
def test_admin_site_matrix(name, world, client_for):
    patient = world["subjects"]["cases.patient"]
    urls = {
        "app_list": reverse("admin:app_list", args=["cases"]),
        "view_on_site": reverse(
            "admin:view_on_site",
            args=[ContentType.objects.get_for_model(patient).pk, patient.pk],
        ),
        "catch_all": "/admin/no-such-page/",
    }
    url = urls.get(name) or reverse(f"admin:{name}")
    for role, expected in zip(ROLES, SITE[name], strict=True):
        response = client_as(role, world, client_for).get(url)
        assert response.status_code == expected, (name, role, response.status_code)


def test_autocomplete_is_scoped(world, client_for):
    """The admin's autocomplete answers from the target admin's scoped queryset."""
    params = {"term": "", "app_label": "portal", "model_name": "user", "field_name": "bureau"}
    url = reverse("admin:autocomplete")
    own = world["subjects"]["portal.bureau"]
    mine = client_as("badmin", world, client_for).get(url, params).json()["results"]
    assert [r["id"] for r in mine] == [str(own.pk)]
    theirs = client_as("other_badmin", world, client_for).get(url, params).json()["results"]
    assert str(own.pk) not in [r["id"] for r in theirs]


def test_a_bureau_of_another_prefecture_sees_nothing_of_the_first(world, client_for):
    other_badmin = client_as("other_badmin", world, client_for)
    patient = world["subjects"]["cases.patient"]
    listing = other_badmin.get(reverse("admin:cases_patient_changelist")).content.decode()
    assert patient.name not in listing
    assert make_bureau("450202").patients.count() == 0
