"""Reads of case records, always scoped to the user's bureau (cases.access)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from cases import access, facts, rules
from cases.access import Viewer
from cases.masking import ID_LIKE, PHONE_LENGTHS
from cases.models import (
    CaseImport,
    Filing,
    MoveRequest,
    Notification,
    Patient,
    Qualification,
    Selection,
    TransferLetter,
)
from cases.search import name_q, pinyin_q
from institutions.models import Disease, Institution, NetworkedSettlement, Region
from institutions.parameters import parameters_on
from portal.models import User, chinese_name


def held_on(today: dt.date) -> Q:
    """A qualification held on ``today``, by its dates: approved at some point (HELD) and
    its period covering the day, whatever the daily job has marked."""
    return Q(status__in=rules.HELD, valid_from__lte=today) & (
        Q(valid_until__isnull=True) | Q(valid_until__gt=today)
    )


def running_on(today: dt.date) -> Q:
    """A selection or filing whose period covers ``today`` (a cancellation or change
    already made its end the day it took effect, FL-10)."""
    return Q(start__lte=today) & (Q(end__isnull=True) | Q(end__gt=today))


def patient_list(user: Viewer) -> QuerySet[Patient]:
    return access.patients(user).select_related("region", "bureau")


def patient_get(user: Viewer, pk: object) -> Patient:
    """The patient, or 404 when it does not exist or belongs to another bureau."""
    return access.patient_get(user, pk)


@dataclass(frozen=True)
class PatientCriteria:
    """What a clerk searches patients by (the search form's cleaned data)."""

    q: str = ""
    insurance_type: str = ""
    disease: Disease | None = None
    filing_status: str = ""  # "" | "active" | "none"


LAST_DIGITS = 4


def patient_search(user: Viewer, criteria: PatientCriteria, today: dt.date) -> QuerySet[Patient]:
    """Patients of the user's bureau matching ``criteria``, newest first. An ID number or
    phone is matched exactly, a 15-digit ID as its 18-digit form (ID-1), Latin letters as
    pinyin or initials, anything else as a name (cases.search)."""
    qs = patient_list(user)
    q = rules.normalize_cert_number(criteria.q)
    if q:
        if len(q) == LAST_DIGITS and q[:-1].isdigit() and (q[-1].isdigit() or q[-1] == "X"):
            # The last four characters of an ID number, as clerks are often told them.
            qs = qs.filter(cert_number__endswith=q)
        elif q.isdigit() and len(q) in PHONE_LENGTHS:
            qs = qs.filter(Q(phone=q) | Q(cert_number=q))
        elif len(q) == rules.FIRST_GENERATION_LENGTH and q.isdigit():
            qs = qs.filter(cert_number=rules.upgrade_first_generation(q))
        elif len(q) == rules.RESIDENT_ID_LENGTH and not rules.check_resident_id(q, today):
            qs = qs.filter(cert_number=q)
        elif ID_LIKE.match(q) and any(c.isdigit() for c in q):
            # Another certificate number, or one of the platform's: a psn_no (NX-1) or a
            # record's serial (NX-2), each unique and indexed.
            qs = qs.filter(Q(cert_number=q) | Q(psn_no=q) | Q(pk__in=_patients_by_serial(q)))
        elif q.isascii() and q.isalpha():
            qs = qs.filter(pinyin_q("", q))
        else:
            qs = qs.filter(name_q("name", criteria.q))
    if criteria.insurance_type:
        qs = qs.filter(insurance_type=criteria.insurance_type)
    if criteria.disease is not None:
        # Holding the qualification today, by its dates (whatever the daily job marked).
        held = Qualification.objects.filter(
            held_on(today), patient=OuterRef("pk"), disease=criteria.disease
        )
        qs = qs.filter(Exists(held))
    if criteria.filing_status:
        filed = Exists(Filing.objects.filter(running_on(today), patient=OuterRef("pk")))
        qs = qs.filter(filed) if criteria.filing_status == "active" else qs.exclude(filed)
    return qs.order_by("-created_at", "-pk")


def _patients_by_serial(serial: str) -> list[int]:
    """The patients whose record carries the platform's serial (NX-2): one query."""
    found = (
        access.across_bureaus(Qualification.objects.all(), "serial lookup")
        .filter(trt_dcla_detl_sn=serial)
        .values_list("patient_id", flat=True)
        .union(
            Selection.objects.filter(trt_dcla_detl_sn=serial).values_list("patient_id", flat=True),
            Filing.objects.filter(trt_dcla_detl_sn=serial).values_list("patient_id", flat=True),
            TransferLetter.objects.filter(trt_dcla_detl_sn=serial).values_list(
                "patient_id", flat=True
            ),
        )
    )
    return list(found)


# The patient list's sortable columns: the key a heading link carries, what it orders by.
# Names sort by their pinyin, as a clerk's card index does.
PATIENT_SORTS: dict[str, tuple[str, ...]] = {
    "name": ("name_pinyin", "name"),
    "cert": ("cert_number",),
    "insurance": ("insurance_type",),
    "region": ("region__code",),
    "created": ("created_at",),
}
DEFAULT_PATIENT_SORT = "-created"


def patient_order(sort: str) -> tuple[str, list[str]]:
    """The sort asked for (a column key, ``-`` first for descending), or the newest first
    when it names no column; and the ordering that gives it, stable from page to page."""
    key = sort.removeprefix("-")
    if key not in PATIENT_SORTS:
        sort, key = DEFAULT_PATIENT_SORT, DEFAULT_PATIENT_SORT.removeprefix("-")
    sign = "-" if sort.startswith("-") else ""
    return sort, [*(sign + field for field in PATIENT_SORTS[key]), sign + "pk"]


def recent_patients(user: Viewer, pks: list[int]) -> list[Patient]:
    """The patients the user opened lately (``pks``, latest first) that they may still see."""
    found = {p.pk: p for p in patient_list(user).filter(pk__in=pks)}
    return [found[pk] for pk in pks if pk in found]


def filings_to_print(user: Viewer, patients: QuerySet[Patient], today: dt.date) -> QuerySet[Filing]:
    """The filings running on ``today`` of the listed patients, for their receipts, by the
    patients' names (pinyin order)."""
    listed = patients.order_by().values("pk")
    return (
        access.records(user, Filing.objects.filter(running_on(today), patient__in=listed))
        .select_related(
            "patient__bureau", "patient__region", "destination", "transfer_letter", "created_by"
        )
        .order_by("patient__name_pinyin", "patient_id", "start", "pk")
    )


@dataclass
class CaseFile:
    """Everything on a patient's page, in a constant number of queries."""

    patient: Patient
    qualifications: list[Qualification]
    selections: list[Selection]
    filings: list[Filing]
    letters: list[TransferLetter]


def case_file(user: Viewer, pk: object) -> CaseFile:
    patient = Patient.objects.select_related("region", "bureau").prefetch_related(
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
    found = access.patient_get(user, pk, queryset=patient)
    return CaseFile(
        patient=found,
        qualifications=list(found.qualifications.all()),
        selections=list(found.selections.all()),
        filings=list(found.filings.all()),
        letters=list(found.transfer_letters.all()),
    )


def filing_get(user: Viewer, pk: object) -> Filing:
    related = ("patient__bureau", "patient__region", "destination", "transfer_letter", "created_by")
    return access.record_get(user, Filing.objects.select_related(*related), pk, "备案")


def letter_get(user: Viewer, pk: object) -> TransferLetter:
    related = ("patient__bureau", "patient__region", "disease", "issuer", "receiver__location")
    return access.record_get(user, TransferLetter.objects.select_related(*related), pk, "转诊证明")


def moves(user: Viewer) -> QuerySet[MoveRequest]:
    """The bureau's transfer requests, made and to answer, newest first (MV-1)."""
    related = ("patient", "from_bureau", "to_bureau", "region", "requested_by", "answered_by")
    return access.moves(user, MoveRequest.objects.select_related(*related))


def moves_to_answer(user: Viewer) -> QuerySet[MoveRequest]:
    """转出申请: the requests the user's bureau must answer."""
    bureau = getattr(user, "bureau_id", None) or 0
    return moves(user).filter(from_bureau_id=bureau, status=MoveRequest.Status.PENDING)


def move_get(user: Viewer, pk: object) -> MoveRequest:
    """A request the user's bureau made or must answer, or 404."""
    move = moves(user).filter(pk=access.object_id(pk)).first()
    if move is None:
        raise Http404("没有找到该转入申请。")
    return move


def selection_get(user: Viewer, pk: object) -> Selection:
    return access.record_get(
        user, Selection.objects.select_related("patient", "institution"), pk, "选点"
    )


def qualification_get(user: Viewer, pk: object) -> Qualification:
    related = ("patient", "disease", "recorded_by")
    return access.record_get(user, Qualification.objects.select_related(*related), pk, "申请")


def notification_get(user: Viewer, pk: object) -> Notification:
    """One of the user's own messages, or 404."""
    found = access.notifications(user).filter(pk=access.object_id(pk)).first()
    if found is None:
        raise Http404("消息不存在")
    return found


# --- the bureau's queues ---------------------------------------------------------------------


def reviews_waiting(user: User) -> QuerySet[Qualification]:
    """Applications of the user's bureau waiting for review, other clerks' only (QL-1)."""
    return (
        access.records(user, Qualification.objects.filter(status=Qualification.Status.SUBMITTED))
        .exclude(recorded_by=user)
        .select_related("patient", "disease", "recorded_by")
        .order_by("applied_on", "pk")
    )


def imports_awaiting_review(user: User) -> list[CaseImport]:
    """Import batches with approved qualifications that wait for this reviewer (QL-1:
    anyone of the bureau who may review, but not whoever uploaded them)."""
    if not access.may_review(user):
        return []
    waiting = CaseImport.objects.filter(status=CaseImport.Status.AWAITING_REVIEW)
    return list(
        access.imports(user, waiting.defer("data"))
        .exclude(created_by=user)
        .select_related("created_by")
        .order_by("created_at", "pk")[:10]
    )


def expiring_filings(user: Viewer, today: dt.date, days: int = 30) -> QuerySet[Filing]:
    """Temporary filings ending within ``days`` (RM-1's queue)."""
    return (
        access.records(user, Filing.objects.all())
        .filter(
            status=Filing.Status.ACTIVE,
            type=Filing.Type.TEMPORARY,
            end__gte=today,
            end__lt=today + dt.timedelta(days=days),
        )
        .select_related("patient", "destination")
        .order_by("end", "pk")
    )


def expiring_letters(user: Viewer, today: dt.date, days: int = 30) -> QuerySet[TransferLetter]:
    """Transfer letters ending within ``days`` (RM-1's queue)."""
    return (
        access.records(user, TransferLetter.objects.all())
        .filter(
            status=TransferLetter.Status.ACTIVE,
            end__gte=today,
            end__lt=today + dt.timedelta(days=days),
        )
        .select_related("patient", "receiver")
        .order_by("end", "pk")
    )


def due_reassessments(user: Viewer, today: dt.date, days: int = 60) -> QuerySet[Qualification]:
    """Approved qualifications ending within ``days`` (RM-3's queue)."""
    return (
        access.records(user, Qualification.objects.all())
        .filter(
            status=Qualification.Status.APPROVED,
            valid_until__gte=today,
            valid_until__lt=today + dt.timedelta(days=days),
        )
        .select_related("patient", "disease")
        .order_by("valid_until", "pk")
    )


def unread_notifications(user: Viewer) -> QuerySet[Notification]:
    return access.notifications(user).filter(read_at__isnull=True).select_related("patient")


def inbox(user: Viewer) -> QuerySet[Notification]:
    return access.notifications(user).select_related("patient", "reminder")


def unread_count(user: Viewer) -> int:
    return unread_notifications(user).count()


CHART_SECONDS = 600


def patients_by_disease(user: User, today: dt.date) -> list[tuple[str, int]]:
    """Current qualifications per disease in the bureau, top ten. A statistic, so it is
    computed at most every ten minutes per bureau (tens of thousands of rows at scale)."""
    key = f"dashboard:by-disease:{user.bureau_id}:{today}"
    found = cache.get(key)
    if found is None:
        found = list(
            access.records(user, Qualification.objects.filter(held_on(today)))
            .values_list("disease__name")
            .annotate(n=Count("pk"))
            .order_by("-n")[:10]
        )
        cache.set(key, found, CHART_SECONDS)
    return list(found)


# --- reference data a clerk looks up ---------------------------------------------------------


def networked_institutions(region: Region, disease: Disease, today: dt.date) -> list[Institution]:
    """Designated institutions in ``region`` (a prefecture, or a province) with networked
    settlement of ``disease`` open today (ST-3, ST-4), the higher levels first."""
    in_guangxi = region.code.startswith(rules.GUANGXI[:2])
    place = (
        Q(institution__location__prefecture=region)
        if region.level == Region.Level.PREFECTURE
        else Q(institution__location__code__startswith=region.code[:2])
    )
    networked = Q(in_region=True) if in_guangxi else Q(cross_province=True)
    rows = (
        NetworkedSettlement.objects.filter(place, networked, disease=disease)
        .select_related("institution__location")
        .order_by("-institution__level", "institution__code")[:200]
    )
    return [r.institution for r in rows if r.institution.designated_on(today)]


def institution_choices(term: str, limit: int = 20) -> list[tuple[str, str]]:
    """Institutions whose code starts with ``term``, or whose name has its characters in
    order (南宁第一 finds 南宁市第一人民医院)."""
    code = rules.normalize_cert_number(term)[:40]
    characters = "".join(term.split())[:20]
    in_order = ".*".join(re.escape(c) for c in characters)
    qs = Institution.objects.filter(Q(code__startswith=code) | Q(name__regex=in_order))
    return list(qs.order_by("code").values_list("code", "name")[:limit])


@dataclass(frozen=True)
class QuickChoice:
    """A one-click value for a form field: the patient's own disease or institution."""

    field: str
    value: str
    label: str


def with_case_today(patients: QuerySet[Patient], today: dt.date) -> QuerySet[Patient]:
    """Patients with what applies to them today, for a list or an export (three queries
    however many patients): ``held`` qualifications, ``selected`` institutions and
    ``filed`` filings."""
    running = running_on(today)
    return patients.prefetch_related(
        Prefetch(
            "qualifications",
            queryset=Qualification.objects.filter(held_on(today))
            .select_related("disease")
            .order_by("disease__code"),
            to_attr="held",
        ),
        Prefetch(
            "selections",
            queryset=Selection.objects.filter(running).select_related("institution"),
            to_attr="selected",
        ),
        Prefetch(
            "filings",
            queryset=Filing.objects.filter(running).select_related("destination"),
            to_attr="filed",
        ),
    )


def selection_preview(
    patient: Patient, institution: Institution, start: dt.date
) -> rules.SelectionCheck:
    """What selecting ``institution`` from ``start`` would give, before saving: its scope
    (SL-3), the slot it takes, and every rule it would break (nothing is written)."""
    loaded = facts.require_institution(institution.pk)
    return rules.check_selection(
        patient_prefecture=facts.patient_prefecture(patient, start),
        institution=facts.institution_facts(loaded),
        start=start,
        existing=facts.patient_selections(patient),
        bases=facts.patient_bases(patient),
        params=parameters_on(start),
    )


def active_selections(patient: Patient, today: dt.date) -> list[Selection]:
    """The patient's selections that apply today, by slot (SL-1 counts these)."""
    return list(
        access.under_patient(Selection.objects.select_related("institution"), patient)
        .filter(running_on(today))
        .order_by("slot")
    )


def patient_choices(
    patient: Patient, today: dt.date, *, institutions: str = ""
) -> list[QuickChoice]:
    """The diseases the patient holds today and, for a form with an institution field
    named ``institutions``, the institutions selected today, as one-click choices."""
    held = (
        access.under_patient(Qualification.objects.select_related("disease"), patient)
        .filter(held_on(today))
        .order_by("disease__code")
    )
    choices = [QuickChoice("disease", str(q.disease_id), q.disease.name) for q in held]
    if institutions:
        choices += [
            QuickChoice(institutions, s.institution.code, s.institution.name)
            for s in active_selections(patient, today)
        ]
    return choices


@dataclass
class Change:
    """One entry of a history timeline."""

    when: Any
    user_name: str  # empty for a change made by the system
    kind: str
    action: str
    summary: str
    patient_id: int
    patient_name: str = ""
    reason: str = ""  # why, when the change says (a move, an import's row, a correction)


HISTORY_ACTIONS = {"+": "新建", "~": "修改", "-": "删除"}

# One branch per history table: (kind, SQL of the columns after the common ones, joins).
# Every branch yields: kind, history_date, history_type, patient id, three text columns
# for its summary, and the patient's name.
_BRANCHES: list[tuple[Any, str, str, str]] = [
    (Patient, "h.id", "h.name, NULL, NULL", ""),
    (
        Qualification,
        "h.patient_id",
        "d.name, h.status, NULL",
        "LEFT JOIN institutions_disease d ON d.id = h.disease_id",
    ),
    (
        Selection,
        "h.patient_id",
        'h.slot::text, i.name, (h."end" - 1)::text',
        "LEFT JOIN institutions_institution i ON i.id = h.institution_id",
    ),
    (
        Filing,
        "h.patient_id",
        "h.type, r.name, h.status",
        "LEFT JOIN institutions_region r ON r.code = h.destination_id",
    ),
    (TransferLetter, "h.patient_id", "h.serial, h.status, NULL", ""),
]


def _display(model: Any, field: str, value: Any) -> str:
    return str(dict(model._meta.get_field(field).flatchoices).get(value, value))


def _summary(model: Any, a: Any, b: Any, c: Any) -> str:
    if model is Patient:
        return str(a)
    if model is Qualification:
        return f"{a}（{_display(model, 'status', b)}）"
    if model is Selection:
        ended = f"，有效期至 {c}" if c else ""
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
            f"{patient_column} AS patient_id, {columns}, p.name, "
            "u.username, u.first_name, u.last_name, h.history_change_reason "
            f"FROM {table} h {joins} LEFT JOIN portal_user u ON u.id = h.history_user_id "
            f"LEFT JOIN {Patient._meta.db_table} p ON p.id = {patient_column} "
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
    for row in rows:
        kind, when, action, patient_id, a, b, c, patient_name, username, first, last, why = row
        model = models_by_name[kind]
        changes.append(
            Change(
                when=when,
                user_name=chinese_name(last, first) or (username or ""),
                # The patient's own changes name them already in the summary.
                patient_name="" if model is Patient else (patient_name or ""),
                kind=str(model._meta.verbose_name),
                action=HISTORY_ACTIONS.get(action, action),
                summary=_summary(model, a, b, c),
                patient_id=patient_id,
                reason=why or "",
            )
        )
    return changes


def recent_changes(user: Viewer, limit: int = 12) -> list[Change]:
    """The latest changes in the user's bureau, across every kind of case record."""
    if not access.is_bureau_staff(user):
        return []
    sql, params = access.patients(user).order_by().values("pk").query.sql_with_params()
    return _changes(sql, list(params), limit)


def timeline(patient: Patient, limit: int = 200) -> list[Change]:
    """Every change to a patient's case, newest first, with user and time."""
    return _changes("%s", [patient.pk], limit)


# --- the national platform's layouts (cases.national) -------------------------------------------


@dataclass(frozen=True)
class ExchangeSource:
    model: type[Any]
    related: tuple[str, ...]
    bureau_field: str
    start: str  # the period's fields, for a date range
    end: str | None


EXCHANGE_SOURCES: dict[str, ExchangeSource] = {
    "person": ExchangeSource(Patient, (), "bureau_id", "created_at__date", None),
    "qualification": ExchangeSource(
        Qualification,
        ("patient", "disease", "diagnosis_institution"),
        "bureau_id",
        "valid_from",
        "valid_until",
    ),
    "selection": ExchangeSource(
        Selection, ("patient", "institution"), "patient__bureau_id", "start", "end"
    ),
    "letter": ExchangeSource(
        TransferLetter, ("patient", "receiver"), "bureau_id", "issued_on", "end"
    ),
    "filing": ExchangeSource(Filing, ("patient",), "bureau_id", "start", "end"),
}


def exchange_records(kind: str) -> QuerySet[Any]:
    """The records of ``kind`` that the platform holds, joined as cases.national's row
    builders need, in id order (unscoped: pass through ``exchange_for`` or access)."""
    source = EXCHANGE_SOURCES[kind]
    queryset: QuerySet[Any] = source.model.objects.select_related(*source.related).order_by("pk")
    if kind == "qualification":
        # Registered on the platform once approved (also when cancelled or expired since).
        queryset = queryset.filter(status__in=list(rules.HELD), valid_from__isnull=False)
    return queryset


def exchange_for(
    user: Viewer,
    kind: str,
    *,
    first: dt.date | None = None,
    last: dt.date | None = None,
    changed_since: dt.date | None = None,
) -> QuerySet[Any]:
    """What ``user`` may export of ``kind`` (their bureau's, or their area's under
    oversight): the records whose period meets [first, last] and, with
    ``changed_since``, those changed on or after that day (by their history)."""
    source = EXCHANGE_SOURCES[kind]
    queryset = exchange_records(kind)
    if first is not None:
        queryset = queryset.filter(
            Q(**{f"{source.end}__isnull": True}) | Q(**{f"{source.end}__gt": first})
            if source.end
            else Q(**{f"{source.start}__gte": first})
        )
    if last is not None:
        queryset = queryset.filter(**{f"{source.start}__lte": last})
    if changed_since is not None:
        since = dt.datetime.combine(
            changed_since, dt.time.min, tzinfo=timezone.get_current_timezone()
        )
        changed = source.model.history.filter(history_date__gte=since).values("id")
        queryset = queryset.filter(pk__in=changed)
    return access.records(user, queryset, source.bureau_field)


def exchange_of_bureau(bureau_id: int, kind: str) -> QuerySet[Any]:
    """A bureau's records of ``kind``, for a reconciliation run on its behalf."""
    source = EXCHANGE_SOURCES[kind]
    return access.of_bureau(
        bureau_id, exchange_records(kind), "national reconciliation", source.bureau_field
    )


def queue_counts(queues: dict[str, QuerySet[Any]]) -> dict[str, int]:
    """How many rows each queue holds, in one query: each queryset's own SQL (already
    scoped through cases.access) counted as a subquery, instead of one COUNT each."""
    parts: list[str] = []
    params: list[Any] = []
    for qs in queues.values():
        sql, qs_params = qs.order_by().values("pk").query.sql_with_params()
        parts.append(f"(SELECT count(*) FROM ({sql}) AS queue)")  # noqa: S608 - Django's SQL
        params.extend(qs_params)
    if not parts:
        return {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        row = cursor.fetchone()
    return {name: int(n) for name, n in zip(queues, row, strict=True)}
