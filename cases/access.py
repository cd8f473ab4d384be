"""Who sees and changes what: the one place that decides it.

Case records. A clerk, reviewer or bureau administrator of a county bureau reaches only
their own bureau's patients and the records under them; anything else is a 404 (never a
403, which would tell that it exists). The staff of a prefecture bureau read the cases of
every county bureau under it, and the region bureau's all of Guangxi: read-only, for
nobody but a county bureau keeps cases (``may_record``). Data administrators manage reference data and see case records
only with the explicit permission ``cases.view_all_patients``. Every case-record query
made while serving a request goes through this module (cases.models.scoping refuses
one that did not).

Staff accounts. A user who is not a superuser manages only accounts that hold nothing
they do not hold themselves, and grants only roles and permissions they hold. Superuser
and staff status are a superuser's to give (staff status otherwise follows the role). A
bureau administrator, in addition, manages only their own bureau's staff and audit trail,
and hands out one permission, the unmasking of numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeGuard, TypeVar

from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.db import models
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest

from cases.models import (
    CaseImport,
    MonthlyReport,
    MoveRequest,
    Notification,
    Patient,
    Reconciliation,
)
from cases.models.scoping import ScopedQuerySet, unscoped
from institutions.models import Region
from portal.audit import record
from portal.models import ROLE_GROUPS, AuditEvent, Bureau, Role, User, role_fits

Viewer = User | AnonymousUser
Record = TypeVar("Record", bound=models.Model)

# --- case records ---------------------------------------------------------------------------


def _bureaus_of(user: Viewer) -> int | QuerySet[Bureau, Any] | None:
    """The bureau whose records ``user`` reads (a county bureau's staff), the bureaus
    under a prefecture or the region (their oversight), or None for every bureau (the
    explicit view_all_patients permission). Raises Http404 for a user who reads none."""
    if not user.is_authenticated or not user.is_active:
        raise Http404
    if user.has_perm("cases.view_all_patients"):
        return None
    bureau = user.bureau
    if bureau is None:
        raise Http404
    if bureau.keeps_cases:
        return bureau.pk
    return area_bureaus(bureau).values("pk")


def area_bureaus(bureau: Bureau) -> QuerySet[Bureau]:
    """The county bureaus under ``bureau``'s division (itself, for a county bureau)."""
    return Bureau.objects.filter(county__code__startswith=bureau.area_prefix, county__level=3)


def records(
    user: Viewer, queryset: QuerySet[Record], bureau_field: str = "bureau_id"
) -> QuerySet[Record]:
    """The rows of ``queryset`` this user may see, by the bureau in ``bureau_field``: a
    patient's own, the copy each qualification, filing and transfer letter carries (see
    Qualification.bureau), or a path such as ``patient__bureau_id``."""
    try:
        bureaus = _bureaus_of(user)
    except Http404:
        queryset = queryset.none()
    else:
        if isinstance(bureaus, int):
            queryset = queryset.filter(**{bureau_field: bureaus})
        elif bureaus is not None:
            queryset = queryset.filter(**{f"{bureau_field}__in": bureaus})
    return _mark(queryset, f"user {user.pk}")


def patients(user: Viewer, queryset: QuerySet[Patient] | None = None) -> QuerySet[Patient]:
    return records(user, queryset if queryset is not None else Patient.objects.all())


def object_id(pk: object) -> int:
    """An id from a URL or form; anything else is a 404."""
    try:
        return int(str(pk))
    except (TypeError, ValueError):
        raise Http404 from None


def patient_get(
    user: Viewer, pk: object, queryset: QuerySet[Patient] | None = None, what: str = "参保人"
) -> Patient:
    """The patient if this user may see it; otherwise 404, never telling that it exists."""
    found = patients(user, queryset).filter(pk=object_id(pk)).first()
    if found is None:
        raise Http404(f"{what}不存在")
    return found


def record_get(user: Viewer, queryset: QuerySet[Record], pk: object, what: str = "记录") -> Record:
    """A record under one of the user's bureau's patients, or 404 (never telling that a
    record of another bureau exists)."""
    visible = queryset.filter(patient__in=patients(user).values("pk"), pk=object_id(pk))
    found = _mark(visible, f"user {user.pk}").first()
    if found is None:
        raise Http404(f"{what}不存在")
    return found


def under_patient(queryset: QuerySet[Record], patient: Patient | int) -> QuerySet[Record]:
    """The records of one patient whom the caller already reached through this module
    (a service working on a record a view fetched, a form's choices for that patient)."""
    patient_id = patient if isinstance(patient, int) else patient.pk
    lookup = "pk" if queryset.model is Patient else "patient_id"
    return _mark(queryset.filter(**{lookup: patient_id}), f"patient {patient_id}")


def under_patients(
    queryset: QuerySet[Record], patient_ids: list[int], field: str = "patient_id"
) -> QuerySet[Record]:
    """The records of patients whom the caller already reached through this module (an
    import's group, read with ``of_bureau``). By patient alone: a bureau's condition
    beside it can lead the planner to read the bureau's every record."""
    return _mark(queryset.filter(**{f"{field}__in": patient_ids}), f"patients {patient_ids[:3]}…")


def across_bureaus(queryset: QuerySet[Record], reason: str) -> QuerySet[Record]:
    """A region-wide lookup whose answer is not shown as records: whether a certificate
    is already registered (ID-1), which serials are taken (TL-4)."""
    return _mark(queryset, f"region: {reason}")


@contextmanager
def system(reason: str) -> Iterator[None]:
    """Work done for no one user (the daily job, delivery, commands): reads every bureau."""
    with unscoped(reason):
        yield


def notifications(user: Viewer) -> QuerySet[Notification]:
    """A user's own inbox; nobody else's."""
    return _mark(Notification.objects.filter(user_id=user.pk or 0), f"inbox {user.pk}")


def moves(user: Viewer, queryset: QuerySet[MoveRequest]) -> QuerySet[MoveRequest]:
    """The transfer requests a user's bureau made or must answer (MV-1); none for others."""
    bureau = user.bureau_id if user.is_authenticated else None
    if not bureau:
        return _mark(queryset.none(), "no bureau")
    return _mark(
        queryset.filter(Q(from_bureau_id=bureau) | Q(to_bureau_id=bureau)), f"bureau {bureau}"
    )


def moves_in_admin(user: Viewer, queryset: QuerySet[MoveRequest]) -> QuerySet[MoveRequest]:
    """The admin site's requests: every one for a data administrator (who keeps no
    bureau's cases), a bureau's own for its staff."""
    if user.is_authenticated and (user.is_superuser or user.role == Role.DATA_ADMIN):
        return _mark(queryset, f"admin {user.pk}")
    return moves(user, queryset)


def may_answer_move(user: Viewer, move: MoveRequest) -> bool:
    """The owning bureau's clerks and reviewers answer a request (MV-1)."""
    return may_record(user) and move.from_bureau_id == user.bureau_id


def may_import(user: Viewer) -> TypeGuard[User]:
    """Who may import case records (cases.import_cases): the staff of a bureau, its own;
    a data administrator, any bureau's."""
    if not (user.is_authenticated and user.has_perm("cases.import_cases")):
        return False
    return keeps_cases(user) or user.role == Role.DATA_ADMIN


def imports(user: Viewer, queryset: QuerySet[CaseImport]) -> QuerySet[CaseImport]:
    """The imports a user may follow: their bureau's, or every bureau's for a data
    administrator; none for anyone who may not import."""
    if not may_import(user):
        return queryset.none()
    if user.bureau_id is None:
        return queryset
    return _of_own_bureau(user, queryset, "bureau_id")


def of_bureau(
    bureau_id: int, queryset: QuerySet[Record], reason: str, field: str = "bureau_id"
) -> QuerySet[Record]:
    """One bureau's records, read for work done on its behalf by whoever runs it (an
    import a data administrator started)."""
    return _mark(queryset.filter(**{field: bureau_id}), f"bureau {bureau_id}: {reason}")


def _mark(queryset: QuerySet[Record], scope: str) -> QuerySet[Record]:
    if isinstance(queryset, ScopedQuerySet):
        return queryset._scoped_as(scope)
    return queryset


# --- what a user may do with case records ---------------------------------------------------


def is_bureau_staff(user: Viewer) -> TypeGuard[User]:
    """Staff of a bureau: the clerk pages are theirs."""
    return bool(user.is_authenticated and user.bureau_id)


def keeps_cases(user: Viewer) -> TypeGuard[User]:
    """Staff of a county bureau, which keeps cases; the levels above only read them."""
    return is_bureau_staff(user) and user.bureau is not None and user.bureau.keeps_cases


def oversees(user: Viewer) -> TypeGuard[User]:
    """Staff of a prefecture or the region bureau: they read the counties under it."""
    return is_bureau_staff(user) and not keeps_cases(user)


def may_record(user: Viewer) -> TypeGuard[User]:
    """Clerks, reviewers and bureau administrators of a county bureau record case data
    for it; oversight never writes, whatever permission an account was given."""
    return keeps_cases(user) and user.has_perm("cases.add_patient")


def may_review(user: Viewer) -> TypeGuard[User]:
    return keeps_cases(user) and user.has_perm("cases.review_qualification")


def may_see_statistics(user: Viewer) -> TypeGuard[User]:
    """Statistics and monthly reports (cases.view_statistics) of the user's own area."""
    return is_bureau_staff(user) and user.has_perm("cases.view_statistics")


def can_unmask(user: Viewer) -> TypeGuard[User]:
    """Whether this user may see full ID numbers and phones (cases.unmask_patient)."""
    return user.is_authenticated and user.has_perm("cases.unmask_patient")


def unmasked(request: HttpRequest, what: str) -> bool:
    """Whether this page shows full ID numbers and phones; each time it does, the
    unmasking is written to the audit log (portal and admin alike)."""
    if not can_unmask(request.user):
        return False
    record(request.user, "unmask", what)
    return True


# --- statistics and monthly reports ---------------------------------------------------------


def statistics_areas(user: Viewer) -> QuerySet[Region]:
    """The divisions whose figures a user may see: their bureau's own and, above a county,
    every prefecture and county under it. None for anyone without cases.view_statistics."""
    if not may_see_statistics(user) or user.bureau is None:
        return Region.objects.none()
    bureau = user.bureau
    return Region.objects.filter(
        code__startswith=bureau.area_prefix,
        level__gte=bureau.level or Region.Level.COUNTY,
        level__lte=Region.Level.COUNTY,
        active=True,
    ).order_by("code")


def reports(user: Viewer, queryset: QuerySet[MonthlyReport]) -> QuerySet[MonthlyReport]:
    """A bureau's monthly reports (报表记录), for its staff who may see statistics."""
    if not may_see_statistics(user):
        return queryset.none()
    return _of_own_bureau(user, queryset, "bureau_id")


# --- staff accounts, bureaus and the audit trail --------------------------------------------

# What a bureau administrator may hand out besides a role.
BUREAU_ADMIN_GRANTS = ("cases.unmask_patient",)


def is_bureau_admin(user: Viewer) -> TypeGuard[User]:
    """A bureau administrator (not a superuser): confined to their own bureau."""
    return bool(user.is_authenticated and not user.is_superuser and user.role == Role.BUREAU_ADMIN)


def bureaus(user: Viewer, queryset: QuerySet[Bureau]) -> QuerySet[Bureau]:
    """A bureau administrator sees their own bureau; data administrators every one."""
    if is_bureau_admin(user):
        return _of_own_bureau(user, queryset, "pk")
    return queryset


def audit_events(user: Viewer, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
    """A bureau administrator sees their own bureau's staff's events only."""
    if is_bureau_admin(user):
        return _of_own_bureau(user, queryset, "user__bureau_id")
    return queryset


def _of_own_bureau(user: User, queryset: QuerySet[Record], field: str) -> QuerySet[Record]:
    if user.bureau_id is None:
        return queryset.none()
    return queryset.filter(**{field: user.bureau_id})


def permission_names(permissions: QuerySet[Permission]) -> set[str]:
    return {
        f"{app}.{code}"
        for app, code in permissions.values_list("content_type__app_label", "codename")
    }


def role_permissions(role: str) -> set[str]:
    return permission_names(Permission.objects.filter(group__name=ROLE_GROUPS[role]))


def held_permissions(user: User) -> set[str]:
    """The permissions a stored account holds now, read afresh from the database."""
    if user.is_superuser:
        return permission_names(Permission.objects.all())
    return permission_names(
        Permission.objects.filter(user=user) | Permission.objects.filter(group__user=user)
    ).union(role_permissions(user.role))


def may_grant(actor: Viewer, permissions: set[str]) -> bool:
    return bool(actor.is_superuser or permissions <= actor.get_all_permissions())


def grantable_roles(actor: Viewer) -> list[Role]:
    """Roles whose permissions ``actor`` holds; a bureau administrator's, only those that
    work at their bureau's level (casework at a county, oversight above it)."""
    roles = [role for role in Role if may_grant(actor, role_permissions(role))]
    if is_bureau_admin(actor) and actor.bureau is not None:
        roles = [role for role in roles if role_fits(role, actor.bureau)]
    return roles


def grantable_permissions(actor: Viewer) -> QuerySet[Permission]:
    """The permissions ``actor`` may give a user directly."""
    if actor.is_superuser:
        return Permission.objects.all()
    names = set(BUREAU_ADMIN_GRANTS) if is_bureau_admin(actor) else actor.get_all_permissions()
    wanted = Q(pk__in=[])
    for name in names & actor.get_all_permissions():
        app_label, codename = name.split(".", 1)
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    return Permission.objects.filter(wanted)


def grantable_groups(actor: Viewer) -> QuerySet[Group]:
    if actor.is_superuser:
        return Group.objects.all()
    return Group.objects.filter(name__in=[ROLE_GROUPS[r] for r in grantable_roles(actor)])


def staff(actor: Viewer, queryset: QuerySet[User]) -> QuerySet[User]:
    """Accounts an administrator sees: a superuser all; anyone else no superuser; a
    bureau administrator only their own bureau's."""
    if actor.is_superuser:
        return queryset
    queryset = queryset.filter(is_superuser=False)
    if is_bureau_admin(actor):
        return _of_own_bureau(actor, queryset, "bureau_id")
    return queryset


def may_manage(actor: Viewer, target: User) -> bool:
    """Whether ``actor`` may change ``target`` (its details, password, role, rights)."""
    if actor.is_superuser:
        return True
    if target.is_superuser:
        return False
    if is_bureau_admin(actor) and target.bureau_id != actor.bureau_id:
        return False
    return may_grant(actor, held_permissions(target))


# --- national platform reconciliations ------------------------------------------------------


def reconciliations(user: Viewer, queryset: QuerySet[Reconciliation]) -> QuerySet[Reconciliation]:
    """A county bureau's staff who record cases see their bureau's reconciliations."""
    if not may_record(user):
        return queryset.none()
    return queryset.filter(bureau_id=user.bureau_id or 0)
