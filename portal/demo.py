"""Demo bureaus and staff for `make run`: every county of Hechi and Liuzhou, the two
cities' bureaus and the region's (oversight)."""

from __future__ import annotations

from django.db import transaction

from institutions.models import Region
from institutions.reference import LoadReport
from portal.models import Bureau, Role, User
from portal.services import user_create

DEMO_CITIES = ("451200", "450200")  # 河池市, 柳州市
REGION = "450000"  # 广西壮族自治区
DEMO_PASSWORD = "Mente-demo-2026"  # noqa: S105 - demo accounts, printed on purpose
DATA_ADMIN_USERNAME = "dataadmin"


def bureau_name(county: Region) -> str:
    city = county.parent.name if county.parent else ""
    return f"{city}{county.name}医疗保障局"


@transaction.atomic
def load_demo_staff() -> tuple[LoadReport, list[tuple[str, str, str]]]:
    """Bureaus, a clerk and a reviewer per bureau, one bureau admin per city, a supervisor
    per city and one for the region, a data admin.

    Returns the report and (username, role, bureau) of every demo account.
    """
    report = LoadReport("示例经办机构与人员")
    accounts: list[tuple[str, str, str]] = []
    counties = Region.objects.filter(
        parent_id__in=DEMO_CITIES, level=Region.Level.COUNTY, active=True
    ).select_related("parent")
    for county in counties.order_by("code"):
        bureau, created = Bureau.objects.get_or_create(
            county=county, defaults={"name": bureau_name(county)}
        )
        report.created += created
        report.unchanged += not created
        roles = [(Role.CLERK, "clerk"), (Role.REVIEWER, "reviewer")]
        if county.code in ("451202", "450202"):
            roles.append((Role.BUREAU_ADMIN, "badmin"))
        for role, prefix in roles:
            username = f"{prefix}_{county.code}"
            if not User.objects.filter(username=username).exists():
                user_create(
                    username=username,
                    password=DEMO_PASSWORD,
                    role=role,
                    bureau=bureau,
                    full_name=f"示例{Role(role).label}{county.name}",
                )
            accounts.append((username, Role(role).label, bureau.name))
    # Oversight: each city's bureau over its counties, and the region's over Guangxi.
    for code in (*DEMO_CITIES, REGION):
        division = Region.objects.get(code=code)
        bureau, created = Bureau.objects.get_or_create(
            county=division, defaults={"name": f"{division.name}医疗保障局"}
        )
        report.created += created
        report.unchanged += not created
        username = f"supervisor_{code}"
        if not User.objects.filter(username=username).exists():
            user_create(
                username=username,
                password=DEMO_PASSWORD,
                role=Role.SUPERVISOR,
                bureau=bureau,
                full_name=f"示例监管{division.name}",
            )
        accounts.append((username, Role.SUPERVISOR.label, bureau.name))
    if not User.objects.filter(username=DATA_ADMIN_USERNAME).exists():
        user_create(
            username=DATA_ADMIN_USERNAME,
            password=DEMO_PASSWORD,
            role=Role.DATA_ADMIN,
            bureau=None,
            full_name="示例数据管理员",
        )
    accounts.append((DATA_ADMIN_USERNAME, Role.DATA_ADMIN.label, "全区"))
    return report, accounts
