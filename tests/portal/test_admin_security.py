"""The admin and two-factor findings of the penetration test, each as it was tried."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse
from django.utils import formats, translation
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases import access
from cases.models import Patient, Qualification
from portal.models import AuditEvent, Role, User
from tests import factories
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db
DAY = dt.date(2025, 3, 1)


@pytest.fixture
def other_badmin(other_bureau):
    return make_user("other_badmin", Role.BUREAU_ADMIN, other_bureau)


@pytest.fixture
def case(clerk, reviewer):
    return factories.case_file(clerk, reviewer, DAY)


def version_url(model: str, obj) -> str:
    version = type(obj).history.filter(id=obj.pk).latest("history_id")
    return reverse(f"admin:cases_{model}_simple_history", args=[obj.pk, version.history_id])


# --- 1. history pages: scoped, read-only ------------------------------------------------------


def test_another_bureaus_history_is_a_404_and_nothing_is_saved_from_it(
    case, client_for, other_badmin
):
    patient = case["patient"]
    client = client_for(other_badmin)
    url = version_url("patient", patient)
    assert client.get(url).status_code == 404
    assert client.get(reverse("admin:cases_patient_history", args=[patient.pk])).status_code == 404
    form = {
        "cert_type": "resident_id",
        "cert_number": patient.cert_number,
        "name": "改名",
        "insurance_type": "390",
        "region": "450202",
        "bureau": str(other_badmin.bureau_id),
        "sex": "M",
    }
    assert client.post(url, form).status_code == 405
    patient.refresh_from_db()
    assert patient.name == "韦示例"
    assert patient.bureau_id != other_badmin.bureau_id


def test_a_version_page_is_read_only_even_for_the_owning_bureau(case, client_for, bureau_admin):
    client = client_for(bureau_admin)
    qualification = case["qualification"]
    url = version_url("qualification", qualification)
    page = client.get(url)
    assert page.status_code == 200
    assert not page.context["adminform"].form.fields  # every field shown read-only
    assert 'name="_save"' not in page.content.decode()
    assert client.post(url, {"status": "rejected"}).status_code == 405
    qualification.refresh_from_db()
    assert qualification.status == Qualification.Status.APPROVED


def test_another_bureaus_user_cannot_be_taken_over_through_history(clerk, client_for, other_badmin):
    client = client_for(other_badmin)
    version = clerk.history.latest("history_id")
    url = reverse("admin:portal_user_simple_history", args=[clerk.pk, version.history_id])
    assert client.get(url).status_code == 404
    assert (
        client.post(url, {"username": "clerk", "bureau": other_badmin.bureau_id}).status_code == 405
    )
    password = reverse("admin:auth_user_password_change", args=[clerk.pk])
    posted = client.post(
        password, {"password1": "Taken-over-2026!", "password2": "Taken-over-2026!"}
    )
    assert posted.status_code == 404
    clerk.refresh_from_db()
    assert clerk.check_password(PASSWORD)
    assert clerk.bureau_id != other_badmin.bureau_id


def test_a_bad_version_id_is_a_404(case, client_for, bureau_admin):
    patient = case["patient"]
    client = client_for(bureau_admin)
    for version in ("abc", "99999999", "99999999999999999999999"):
        url = f"/admin/cases/patient/{patient.pk}/history/{version}/"
        assert client.get(url).status_code == 404, version


# --- 4. full numbers in the admin are masked or audited ---------------------------------------


@pytest.fixture
def viewer(data_admin):
    """A data administrator who may read every bureau's cases, but not unmask."""
    codes = ["view_all_patients", "view_patient", "view_qualification", "view_filing"]
    data_admin.user_permissions.add(*Permission.objects.filter(codename__in=codes))
    return data_admin


def test_admin_pages_mask_numbers_without_the_unmask_permission(case, client_for, viewer):
    patient = case["patient"]
    Patient.objects.filter(pk=patient.pk).update(phone="13800001111")
    patient.refresh_from_db()
    patient.name = "韦示例乙"
    patient.phone = "13900002222"
    patient.save()  # a second version, so the history lists a change of phone
    client = client_for(viewer)
    pages = [
        reverse("admin:cases_patient_change", args=[patient.pk]),
        reverse("admin:cases_patient_history", args=[patient.pk]),
        version_url("patient", patient),
        reverse("admin:cases_patient_changelist"),
    ]
    for url in pages:
        body = client.get(url).content.decode()
        assert patient.cert_number not in body, url
        assert "13900002222" not in body, url
        assert "13800001111" not in body, url
    assert patient.masked_cert_number in client.get(pages[0]).content.decode()
    assert not AuditEvent.objects.filter(action="unmask").exists()


def test_admin_pages_that_show_full_numbers_are_audited(case, client_for, bureau_admin):
    patient = case["patient"]
    client = client_for(bureau_admin)
    change = client.get(reverse("admin:cases_patient_change", args=[patient.pk]))
    assert patient.cert_number in change.content.decode()
    assert client.get(version_url("patient", patient)).status_code == 200
    events = list(AuditEvent.objects.filter(action="unmask", user=bureau_admin))
    assert len(events) == 2
    assert all(str(patient.pk) in e.detail for e in events)
    # The list of changes never shows a number in full, so it is not an unmasking.
    client.get(reverse("admin:cases_patient_history", args=[patient.pk]))
    assert AuditEvent.objects.filter(action="unmask").count() == 2


# --- 3. no way up ---------------------------------------------------------------------------


def user_form(user: User, **changes) -> dict:
    data = {
        "username": user.username,
        "last_name": user.last_name,
        "first_name": user.first_name,
        "email": user.email,
        "phone": user.phone,
        "role": user.role,
        "is_active": "on",
        "bureau": user.bureau_id or "",
        "date_joined_0": "2025-01-01",
        "date_joined_1": "00:00:00",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_a_data_admin_cannot_make_itself_superuser_or_staff_or_add_groups(data_admin, client_for):
    client = client_for(data_admin)
    url = reverse("admin:portal_user_change", args=[data_admin.pk])
    page = client.get(url)
    fields = page.context["adminform"].form.fields
    assert "is_superuser" not in fields
    assert "is_staff" not in fields
    assert "groups" not in fields
    view_all = Permission.objects.get(codename="view_all_patients")
    assert view_all not in fields["user_permissions"].queryset
    clerks = Group.objects.get(name="经办")
    response = client.post(
        url,
        user_form(
            data_admin,
            is_superuser="on",
            is_staff="on",
            groups=[clerks.pk],
            user_permissions=[view_all.pk],
        ),
    )
    assert response.status_code == 200  # the permission is not one it may give
    response = client.post(url, user_form(data_admin, is_superuser="on", groups=[clerks.pk]))
    assert response.status_code == 302
    data_admin.refresh_from_db()
    assert not data_admin.is_superuser
    assert not data_admin.groups.filter(name="经办").exists()
    assert not data_admin.has_perm("cases.view_patient")


def test_a_data_admin_cannot_grant_a_role_it_does_not_hold_nor_touch_those_who_do(
    data_admin, clerk, client_for
):
    client = client_for(data_admin)
    roles = [
        v
        for v, _ in client.get(reverse("admin:portal_user_add"))
        .context["adminform"]
        .form.fields["role"]
        .choices
    ]
    assert roles == [Role.DATA_ADMIN]  # clerks' roles carry case permissions it lacks
    made = client.post(
        reverse("admin:portal_user_add"),
        {
            "username": "spy",
            "password1": "Spy-password-2026!",
            "password2": "Spy-password-2026!",
            "role": "clerk",
            "bureau": clerk.bureau_id,
        },
    )
    assert made.status_code == 200
    assert not User.objects.filter(username="spy").exists()
    # A clerk's account: visible, not changeable (its password least of all).
    change = reverse("admin:portal_user_change", args=[clerk.pk])
    assert client.get(change).status_code == 200
    assert client.post(change, user_form(clerk, role="data_admin")).status_code == 403
    password = reverse("admin:auth_user_password_change", args=[clerk.pk])
    assert client.get(password).status_code == 403
    clerk.refresh_from_db()
    assert clerk.role == Role.CLERK


def test_superusers_are_out_of_sight_for_everyone_else(data_admin, client_for):
    root = make_user("root", Role.DATA_ADMIN, None)
    User.objects.filter(pk=root.pk).update(is_superuser=True)
    client = client_for(data_admin)
    assert client.get(reverse("admin:portal_user_change", args=[root.pk])).status_code == 404
    password = reverse("admin:auth_user_password_change", args=[root.pk])
    assert client.post(password, {"password1": "x", "password2": "x"}).status_code == 404
    assert "root" not in client.get(reverse("admin:portal_user_changelist")).content.decode()


def test_a_bureau_admin_grants_its_bureaus_roles_and_only_unmasking(
    bureau_admin, clerk, client_for
):
    client = client_for(bureau_admin)
    url = reverse("admin:portal_user_change", args=[clerk.pk])
    roles = [v for v, _ in client.get(url).context["adminform"].form.fields["role"].choices]
    assert set(roles) == {Role.CLERK, Role.REVIEWER, Role.BUREAU_ADMIN}
    view_all = Permission.objects.get(codename="view_all_patients")
    refused = client.post(url, user_form(clerk, bureau=None, user_permissions=[view_all.pk]))
    assert refused.status_code == 200
    assert client.post(url, user_form(clerk, bureau=None, role="data_admin")).status_code == 200
    clerk.refresh_from_db()
    assert clerk.role == Role.CLERK
    assert not clerk.user_permissions.exists()


def test_may_manage_compares_what_both_hold(clerk, reviewer, bureau_admin, data_admin):
    assert access.may_manage(bureau_admin, clerk)
    assert access.may_manage(bureau_admin, reviewer)
    assert not access.may_manage(data_admin, clerk)
    assert not access.may_manage(clerk, bureau_admin)
    other = make_user("dataadmin2", Role.DATA_ADMIN, None)
    assert access.may_manage(data_admin, other)
    other.user_permissions.add(Permission.objects.get(codename="view_all_patients"))
    assert not access.may_manage(data_admin, other)


# --- 2. two-factor set-up needs the factor it would replace ---------------------------------


def test_the_password_alone_never_enrols_a_second_factor(data_admin, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    owner = TOTPDevice.objects.create(user=data_admin, name="手机", confirmed=True)
    static = StaticDevice.objects.create(user=data_admin, name="恢复码")
    static.token_set.create(token="abcd1234")
    client = Client()
    client.force_login(data_admin)  # the password, and nothing else
    response = client.get(reverse("two_factor_setup"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("two_factor_verify"))
    assert client.post(reverse("two_factor_setup"), {"token": "123456"}).status_code == 302
    assert list(TOTPDevice.objects.filter(user=data_admin)) == [owner]
    assert list(static.token_set.values_list("token", flat=True)) == ["abcd1234"]
    assert client.get(reverse("admin:index")).status_code == 302


def test_replacing_the_authenticator_is_said_before_and_after_and_audited(data_admin, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    old = TOTPDevice.objects.create(user=data_admin, name="手机", confirmed=True)
    StaticDevice.objects.create(user=data_admin, name="恢复码").token_set.create(token="abcd1234")
    client = Client()
    client.force_login(data_admin)
    verified = client.post(reverse("two_factor_verify"), {"token": f"{totp(old.bin_key):06d}"})
    assert verified.status_code == 302
    page = client.get(reverse("two_factor_setup")).content.decode()
    assert "原验证器和全部原恢复码将立即作废" in page
    new = TOTPDevice.objects.get(user=data_admin, confirmed=False)
    done = client.post(reverse("two_factor_setup"), {"token": f"{totp(new.bin_key):06d}"})
    assert "原验证器和原恢复码已作废" in done.content.decode()
    assert list(TOTPDevice.objects.filter(user=data_admin)) == [new]
    assert not StaticDevice.objects.get(user=data_admin).token_set.filter(token="abcd1234").exists()
    assert AuditEvent.objects.filter(user=data_admin, action="two_factor").exists()


# --- 5. the requirement follows the role, per request ----------------------------------------


def test_a_clerk_promoted_mid_session_must_set_up_a_second_factor(clerk):
    client = Client()
    client.force_login(clerk)
    assert client.get(reverse("home")).status_code == 200  # no second factor needed
    User.objects.filter(pk=clerk.pk).update(role=Role.BUREAU_ADMIN, is_staff=True)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"] == reverse("two_factor_setup")
    assert client.get(reverse("home"))["Location"] == reverse("two_factor_setup")


# --- 7. the receipt masks the agent's phone ----------------------------------------------------


def test_the_receipt_masks_the_agents_phone_without_the_unmask_permission(
    case, clerk, bureau_admin, client_for
):
    from cases.models import Filing

    filing = case["filing"]
    Filing.objects.filter(pk=filing.pk).update(
        agent_name="韦代办", agent_relation="子女", agent_phone="13812345678"
    )
    url = reverse("filing_receipt", args=[filing.pk])
    masked = client_for(clerk).get(url).content.decode()
    assert "13812345678" not in masked
    assert "138****5678" in masked
    assert "13812345678" in client_for(bureau_admin).get(url).content.decode()


# --- 9. caches and the lockout ceiling ------------------------------------------------------


def test_pages_exports_and_the_set_up_page_are_not_stored(case, clerk, data_admin, client_for):
    client = client_for(clerk)
    for url in (
        reverse("home"),
        reverse("patient_detail", args=[case["patient"].pk]),
        reverse("patient_search") + "?export=csv",
        reverse("filing_receipt", args=[case["filing"].pk]),
    ):
        assert "no-store" in client.get(url)["Cache-Control"], url
    setup = Client()
    setup.force_login(data_admin)
    response = setup.get(reverse("two_factor_setup"))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_a_username_is_locked_over_all_addresses_at_the_ceiling(clerk, settings):
    settings.AXES_USERNAME_CEILING = 6
    for n in range(6):
        Client().post(
            reverse("login"),
            {"username": "clerk", "password": "wrong"},
            REMOTE_ADDR=f"10.2.0.{n}",
        )
    refused = Client().post(
        reverse("login"), {"username": "clerk", "password": PASSWORD}, REMOTE_ADDR="10.3.0.1"
    )
    assert refused.status_code == 200
    assert "该账户登录失败次数过多" in refused.content.decode()


def test_admin_shows_ends_as_the_last_valid_day(case, client_for, bureau_admin):
    """有效期至 in the admin too: the filing's stored end is the day after its last day."""
    filing = case["filing"]
    last_day = filing.end - dt.timedelta(days=1)
    with translation.override("zh-hans"):
        # A change page shows dates as ISO, a list in the locale's format.
        last = {last_day.isoformat(), formats.date_format(last_day)}
        stored = {filing.end.isoformat(), formats.date_format(filing.end)}
    client = client_for(bureau_admin)
    for url in (
        reverse("admin:cases_filing_change", args=[filing.pk]),
        reverse("admin:cases_filing_changelist"),
    ):
        page = client.get(url).content.decode()
        assert "有效期至" in page
        assert any(shown in page for shown in last)
        assert not any(shown in page for shown in stored)
