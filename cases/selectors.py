"""Reads of case records, always scoped to the user's bureau (cases.access)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection
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
    user_name: str  # empty for a change made by the system
    kind: str
    action: str
    summary: str
    patient_id: int


HISTORY_ACTIONS = {"+": "新建", "~": "修改", "-": "删除"}

# One branch per history table: (kind, SQL of the columns after the common ones, joins).
# Every branch yields: kind, history_date, history_type, patient id, four text columns.
_BRANCHES: list[tuple[Any, str, str, str]] = [
    (Patient, "h.id", "h.name, NULL, NULL, NULL", ""),
    (
        Qualification,
        "h.patient_id",
        "d.name, h.status, NULL, NULL",
        "LEFT JOIN institutions_disease d ON d.id = h.disease_id",
    ),
    (
        Selection,
        "h.patient_id",
        'h.slot::text, i.name, h."end"::text, NULL',
        "LEFT JOIN institutions_institution i ON i.id = h.institution_id",
    ),
    (Filing, "h.patient_id", "h.type, h.destination_id, h.status, NULL", ""),
    (TransferLetter, "h.patient_id", "h.serial, h.status, NULL, NULL", ""),
]


def _display(model: Any, field: str, value: Any) -> str:
    return str(dict(model._meta.get_field(field).flatchoices).get(value, value))


def _summary(model: Any, a: Any, b: Any, c: Any) -> str:
    if model is Patient:
        return str(a)
    if model is Qualification:
        return f"{a}（{_display(model, 'status', b)}）"
    if model is Selection:
        ended = f"，{c} 起终止" if c else ""
        return f"选点位{a} {b}{ended}"
    if model is Filing:
        return f"{_display(model, 'type', a)} → {b}（{_display(model, 'status', c)}）"
    return f"{a}（{_display(model, 'status', b)}）"


def _changes(patients_sql: str, params: list[Any], limit: int) -> list[Change]:
    """History rows of every case model, newest first, in one query: the five history
    tables side by side (UNION ALL), each with the names its summary needs.
    ``patients_sql`` selects the patient ids whose changes are wanted."""
    branches = []
    all_params: list[Any] = []
    for model, patient_column, columns, joins in _BRANCHES:
        table = model.history.model._meta.db_table
        branches.append(
            f"(SELECT '{model._meta.model_name}' AS kind, h.history_date, h.history_type, "  # noqa: S608 - names from the models
            f"{patient_column} AS patient_id, {columns}, "
            "u.username, u.first_name, u.last_name "
            f"FROM {table} h {joins} LEFT JOIN portal_user u ON u.id = h.history_user_id "
            f"WHERE {patient_column} IN ({patients_sql}) "
            "ORDER BY h.history_date DESC LIMIT %s)"
        )
        all_params += [*params, limit]
    sql = " UNION ALL ".join(branches) + " ORDER BY history_date DESC LIMIT %s"
    models_by_name = {model._meta.model_name: model for model, *_ in _BRANCHES}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*all_params, limit])  # fixed SQL above; values as parameters
        rows = cursor.fetchall()
    changes = []
    for kind, when, action, patient_id, a, b, c, _d, username, first, last in rows:
        model = models_by_name[kind]
        changes.append(
            Change(
                when=when,
                user_name=f"{first or ''} {last or ''}".strip() or (username or ""),
                kind=str(model._meta.verbose_name),
                action=HISTORY_ACTIONS.get(action, action),
                summary=_summary(model, a, b, c),
                patient_id=patient_id,
            )
        )
    return changes


def recent_changes(user: Any, limit: int = 12) -> list[Change]:
    """The latest changes in the user's bureau, across every kind of case record."""
    if not user.bureau_id:
        return []
    patients = f"SELECT id FROM {Patient._meta.db_table} WHERE bureau_id = %s"  # noqa: S608
    return _changes(patients, [user.bureau_id], limit)


def timeline(patient: Patient, limit: int = 200) -> list[Change]:
    """Every change to a patient's case, newest first, with user and time."""
    return _changes("%s", [patient.pk], limit)


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
