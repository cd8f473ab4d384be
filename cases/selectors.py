"""Reads of case records, always scoped to the user's bureau (cases.access)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, QuerySet

from cases.access import get_patient_for_user, patients_visible_to, records_visible_to
from cases.models import Filing, Patient, Qualification, Selection, TransferLetter


def patient_list(user: Any) -> QuerySet[Patient]:
    return patients_visible_to(user).select_related("region", "bureau")


def patient_get(user: Any, pk: Any) -> Patient:
    """The patient, or 404 when it does not exist or belongs to another bureau."""
    return get_patient_for_user(user, pk)


@dataclass
class CaseFile:
    """Everything on a patient's page, in a constant number of queries."""

    patient: Patient
    qualifications: list[Qualification]
    selections: list[Selection]
    filings: list[Filing]
    letters: list[TransferLetter]


def case_file(user: Any, pk: Any) -> CaseFile:
    patient = (
        patients_visible_to(user)
        .select_related("region", "bureau")
        .prefetch_related(
            Prefetch(
                "qualifications",
                queryset=Qualification.objects.select_related(
                    "disease", "recorded_by", "reviewed_by", "diagnosis_institution"
                ),
            ),
            Prefetch(
                "selections",
                queryset=Selection.objects.select_related(
                    "institution__location", "basis_filing", "basis_letter"
                ),
            ),
            Prefetch("filings", queryset=Filing.objects.select_related("destination")),
            Prefetch(
                "transfer_letters",
                queryset=TransferLetter.objects.select_related("disease", "issuer", "receiver"),
            ),
        )
    )
    found = get_patient_for_user(user, pk, queryset=patient)
    return CaseFile(
        patient=found,
        qualifications=list(found.qualifications.all()),
        selections=list(found.selections.all()),
        filings=list(found.filings.all()),
        letters=list(found.transfer_letters.all()),
    )


def reviews_waiting(user: Any) -> QuerySet[Qualification]:
    """Applications of the user's bureau waiting for review, other clerks' only (QL-1)."""
    return (
        records_visible_to(
            user, Qualification.objects.filter(status=Qualification.Status.SUBMITTED)
        )
        .exclude(recorded_by=user)
        .select_related("patient", "disease", "recorded_by")
        .order_by("applied_on", "pk")
    )


@dataclass
class Change:
    """One entry of a history timeline."""

    when: Any
    user: Any
    kind: str
    action: str
    summary: str
    patient_id: int


HISTORY_ACTIONS = {"+": "新建", "~": "修改", "-": "删除"}


def _history_models() -> list[Any]:
    return [
        Patient.history,
        Qualification.history,
        Selection.history,
        Filing.history,
        TransferLetter.history,
    ]


def _summary(row: Any, names: dict[str, dict[int, str]]) -> str:
    kind = row.instance_type
    if kind is Patient:
        return str(row.name)
    if kind is Qualification:
        return (
            f"{names['disease'].get(row.disease_id, row.disease_id)}（{row.get_status_display()}）"
        )
    if kind is Selection:
        ended = f"，{row.end} 起终止" if row.end else ""
        return f"选点位{row.slot} {names['institution'].get(row.institution_id, row.institution_id)}{ended}"
    if kind is Filing:
        return f"{row.get_type_display()} → {row.destination_id}（{row.get_status_display()}）"
    return f"{row.serial}（{row.get_status_display()}）"


def _changes(filters: dict[str, Any], limit: int) -> list[Change]:
    """History rows of every case model, newest first; names looked up in two queries."""
    from institutions.models import Disease, Institution

    rows: list[Any] = []
    for manager in _history_models():
        model = manager.model
        patient_field = "id" if model.instance_type is Patient else "patient_id"
        found = (
            manager.filter(
                **{k.replace("patient_id", patient_field): v for k, v in filters.items()}
            )
            .select_related("history_user")
            .order_by("-history_date")[:limit]
        )
        rows += [(row, getattr(row, patient_field)) for row in found]
    rows.sort(key=lambda pair: pair[0].history_date, reverse=True)
    rows = rows[:limit]
    disease_ids = {r.disease_id for r, _ in rows if hasattr(r, "disease_id")}
    institution_ids = {r.institution_id for r, _ in rows if hasattr(r, "institution_id")}
    names = {
        "disease": dict(Disease.objects.filter(pk__in=disease_ids).values_list("pk", "name")),
        "institution": dict(
            Institution.objects.filter(pk__in=institution_ids).values_list("pk", "name")
        ),
    }
    return [
        Change(
            when=row.history_date,
            user=row.history_user,
            kind=row.instance_type._meta.verbose_name,
            action=HISTORY_ACTIONS.get(row.history_type, row.history_type),
            summary=_summary(row, names),
            patient_id=patient_id,
        )
        for row, patient_id in rows
    ]


def recent_changes(user: Any, limit: int = 12) -> list[Change]:
    """The latest changes in the user's bureau, across every kind of case record."""
    if not user.bureau_id:
        return []
    return _changes({"patient_id__in": patients_visible_to(user).values("pk")}, limit)


def timeline(patient: Patient, limit: int = 200) -> list[Change]:
    """Every change to a patient's case, newest first, with user and time."""
    return _changes({"patient_id": patient.pk}, limit)


def record_get(user: Any, queryset: QuerySet[Any], pk: Any, what: str = "记录") -> Any:
    """A record under one of the user's bureau's patients, or 404 (never telling that a
    record of another bureau exists)."""
    try:
        found = queryset.filter(
            patient__in=patients_visible_to(user).values("pk"), pk=int(pk)
        ).first()
    except (TypeError, ValueError, OverflowError):
        found = None
    if found is None:
        from django.http import Http404

        raise Http404(f"{what}不存在")
    return found
