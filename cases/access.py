"""The one place that answers "may this user see or change this record".

A clerk, reviewer or bureau administrator reaches only their own bureau's patients and
the records under them; anything else is a 404 (never a 403, which would tell that it
exists). Data administrators manage reference data and see case records only with the
explicit permission ``cases.view_all_patients``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.http import Http404

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from cases.models import Patient


def patients_visible_to(user: Any, queryset: QuerySet[Patient] | None = None) -> QuerySet[Patient]:
    from cases.models import Patient

    return records_visible_to(user, queryset if queryset is not None else Patient.objects.all())


def records_visible_to(
    user: Any, queryset: QuerySet[Any], bureau_field: str = "bureau_id"
) -> QuerySet[Any]:
    """The rows of ``queryset`` this user may see, by the bureau in ``bureau_field``: a
    patient's own, the copy each qualification, filing and transfer letter carries (see
    Qualification.bureau), or a path such as ``patient__bureau_id``."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return queryset.none()
    if user.has_perm("cases.view_all_patients"):
        return queryset
    if user.bureau_id is None:
        return queryset.none()
    return queryset.filter(**{bureau_field: user.bureau_id})


def get_patient_for_user(user: Any, pk: Any, queryset: QuerySet[Patient] | None = None) -> Patient:
    """The patient if this user may see it; otherwise 404, never telling that it exists."""
    try:
        return patients_visible_to(user, queryset).get(pk=int(pk))
    except (ValueError, TypeError, OverflowError):
        raise Http404("参保人不存在") from None
    except Exception as exc:
        from cases.models import Patient

        if isinstance(exc, Patient.DoesNotExist):
            raise Http404("参保人不存在") from None
        raise


def may_record(user: Any) -> bool:
    """Clerks, reviewers and bureau administrators record case data for their bureau."""
    return bool(user.is_authenticated and user.bureau_id and user.has_perm("cases.add_patient"))


def may_review(user: Any) -> bool:
    return bool(
        user.is_authenticated and user.bureau_id and user.has_perm("cases.review_qualification")
    )


def can_unmask(user: Any) -> bool:
    """Whether this user may see full ID numbers and phones (cases.unmask_patient)."""
    return bool(user.has_perm("cases.unmask_patient"))


def unmasked(request: Any, what: str) -> bool:
    """Whether this page shows full ID numbers and phones; each time it does, the
    unmasking is written to the audit log (portal and admin alike)."""
    if not can_unmask(request.user):
        return False
    from portal.audit import record

    record(request.user, "unmask", what)
    return True
