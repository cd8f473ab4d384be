"""Patient search, export, registration and the patient page."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html

from cases import access, facts, rules, selectors
from cases.forms import PatientEditForm, RegisterForm, SearchForm, show_refusal
from cases.masking import NOT_IN_URLS, identifies_someone
from cases.models import Patient, Qualification, Selection
from cases.services import PolicyRefusal
from cases.services.patients import find_registered, patient_correct, patient_register
from cases.views.common import (
    EXPORT_FORMATS,
    StaffRequest,
    bureau_staff,
    export,
    list_query,
    reads_by_post,
    recent,
    recorder,
    remember_patient,
    sort_headings,
)
from cases.views.moves import MOVE_CANDIDATE
from institutions.parameters import parameters_on
from portal import searches
from portal.audit import record_print
from portal.models import User

PAGE_SIZE = 25
EXPORT_LIMIT = 10_000


def search(user: User, form: SearchForm) -> QuerySet[Patient]:
    """Patients of the user's bureau matching a search form; none for an invalid one."""
    if not form.is_valid():
        return selectors.patient_list(user).none()
    data = form.cleaned_data
    criteria = selectors.PatientCriteria(
        q=data.get("q") or "",
        insurance_type=data.get("insurance_type") or "",
        disease=data.get("disease"),
        filing_status=data.get("filing_status") or "",
    )
    return selectors.patient_search(user, criteria, facts.today())


EXPORT_HEADERS = [
    "姓名",
    "证件号码",
    "人员编号",
    "险种",
    "参保地",
    "联系电话",
    "登记日期",
    "门特病种",
    "选点机构",
    "跨省备案",
    "参保状态",
]


def patient_row(patient: Patient, unmask: bool) -> list[Any]:
    """A patient and what applies to them today (selectors.with_case_today)."""
    filed = [
        f"{f.get_type_display()}→{f.destination.name}"
        + (f"（有效期至{rules.last_day(f.end)}）" if f.end else "")
        for f in getattr(patient, "filed", [])
    ]
    return [
        patient.name,
        patient.cert_number if unmask else patient.masked_cert_number,
        patient.psn_no,
        patient.get_insurance_type_display(),
        patient.region.full_name,
        patient.phone if unmask else patient.masked_phone,
        patient.created_at.date().isoformat(),
        "、".join(q.disease.name for q in getattr(patient, "held", [])),
        "、".join(s.institution.name for s in getattr(patient, "selected", [])),
        "；".join(filed),
        f"转出广西（{patient.moved_out_on.isoformat()} 起）" if patient.moved_out_on else "在册",
    ]


ID_NUMBER = re.compile(r"\d{17}[\dX]|\d{15}")
SEARCH_FIELDS = ("q", "disease", "insurance_type", "filing_status")
SEARCHES = "patient_searches"  # the session bucket (portal.searches)


def searched(request: StaffRequest) -> tuple[SearchForm, QuerySet[Patient], bool]:
    """The search a GET names (a session key or plain terms), the patients it finds in the
    order asked for (``sort``), and whether any search was made (all patients otherwise)."""
    data: Any = None
    if "s" in request.GET:
        data = searches.recall(request, SEARCHES, request.GET["s"])
        if data is None:
            messages.info(request, "查询条件已过期，请重新查询。")
    elif any(f in request.GET for f in SEARCH_FIELDS):
        data = {f: request.GET.get(f, "") for f in SEARCH_FIELDS}
    form = SearchForm(data)
    if data is not None and "s" not in request.GET and identifies_someone(data.get("q", "")):
        form.is_valid()
        form.add_error("q", NOT_IN_URLS)
    qs = search(request.user, form) if data is not None else selectors.patient_list(request.user)
    _, ordering = selectors.patient_order(request.GET.get("sort", ""))
    return form, qs.order_by(*ordering), data is not None


SORTABLE = [
    ("姓名", "name"),
    ("证件号码", "cert"),
    ("险种", "insurance"),
    ("参保地", "region"),
    ("电话", None),
    ("登记日期", "created"),
]


@bureau_staff
@reads_by_post
def patient_search(request: StaffRequest) -> HttpResponse:
    if request.method == "POST":
        form = SearchForm(request.POST)
        if form.is_valid():
            criteria = {f: request.POST.get(f, "") for f in SEARCH_FIELDS}
            key = searches.remember(request, SEARCHES, {f: v for f, v in criteria.items() if v})
            return redirect(f"{reverse('patient_search')}?s={key}")
        qs = selectors.patient_list(request.user).none()
        searching = True
    else:
        form, qs, searching = searched(request)
    fmt = request.GET.get("export", "")
    if fmt in EXPORT_FORMATS:
        return export(
            request,
            what="参保人查询结果",
            name="参保人",
            fmt=fmt,
            headers=EXPORT_HEADERS,
            rows=lambda unmask: [
                patient_row(p, unmask)
                for p in selectors.with_case_today(qs[:EXPORT_LIMIT], facts.today())
            ],
        )
    unmask = access.unmasked(request, "参保人查询列表")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    sort, _ = selectors.patient_order(request.GET.get("sort", ""))
    elsewhere = searching and not page.object_list and _registered_elsewhere(request, form)
    return render(
        request,
        "cases/patient_search.html",
        {
            "form": form,
            "page": page,
            "unmask": unmask,
            "query": list_query(request),
            "search_query": list_query(request, "sort"),
            "headings": sort_headings(request, SORTABLE, sort),
            "recent": [] if searching else selectors.recent_patients(request.user, recent(request)),
            "elsewhere": elsewhere,
        },
    )


def _registered_elsewhere(request: StaffRequest, form: SearchForm) -> bool:
    """A certificate number found at no patient of the bureau but registered at another:
    the search offers 申请转入 (MV-1), the number carried to its form in the session."""
    if not access.may_record(request.user) or not form.is_valid():
        return False
    number = rules.normalize_cert_number(form.cleaned_data.get("q") or "")
    if not ID_NUMBER.fullmatch(number):
        return False
    found = find_registered(rules.CertType.RESIDENT_ID, number)
    if found is None or found.bureau_id == request.user.bureau_id:
        return False
    request.session[MOVE_CANDIDATE] = [rules.CertType.RESIDENT_ID.value, found.cert_number]
    return True


RECEIPT_LIMIT = 200


@bureau_staff
def patient_receipts(request: StaffRequest) -> HttpResponse:
    """The filing receipts of a patient list (the search's terms), one per page, to print."""
    _, patients, _ = searched(request)
    filings = list(
        selectors.filings_to_print(request.user, patients, facts.today())[: RECEIPT_LIMIT + 1]
    )
    more, filings = len(filings) > RECEIPT_LIMIT, filings[:RECEIPT_LIMIT]
    record_print(request.user, f"备案回执批量打印（{len(filings)}份）")
    return render(
        request,
        "cases/print_receipts.html",
        {
            "filings": filings,
            "more": more,
            "limit": RECEIPT_LIMIT,
            "unmask": access.unmasked(request, "备案回执批量打印"),
            "back": f"{reverse('patient_search')}?{list_query(request)}",
        },
    )


@recorder
def patient_register_view(request: StaffRequest) -> HttpResponse:
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        existing = find_registered(data["cert_type"], data["cert_number"])
        if existing is not None:
            if existing.bureau_id == request.user.bureau_id:
                messages.info(request, "该证件号码的参保人已登记，已为您打开其档案。")
                return redirect("patient_detail", pk=existing.pk)
            # The number goes to the request form in the session, never in a URL.
            request.session[MOVE_CANDIDATE] = [data["cert_type"], data["cert_number"]]
            apply_url = reverse("move_new")
            form.add_error(
                "cert_number",
                format_html(
                    "ID-1：该证件号码的参保人已在其他经办机构登记。参保关系已转入本地的，"
                    '请<a href="{}">申请转入</a>（MV-1）。',
                    apply_url,
                ),
            )
        else:
            try:
                registration = patient_register(by=request.user, **data)
            except PolicyRefusal as refusal:
                show_refusal(form, refusal, {"region": "cert_number"})
            else:
                for warning in registration.warnings:
                    messages.warning(request, warning)
                messages.success(request, f"已登记参保人{registration.patient.name}。")
                return redirect("patient_detail", pk=registration.patient.pk)
    return render(request, "cases/patient_register.html", {"form": form})


@bureau_staff
def patient_print(request: StaffRequest, pk: int) -> HttpResponse:
    """The case on one page, to print: every record with its 有效期至."""
    case = selectors.case_file(request.user, pk)
    record_print(request.user, f"门特档案摘要 #{case.patient.pk}")
    unmask = access.unmasked(request, f"门特档案摘要 #{case.patient.pk}")
    return render(
        request,
        "cases/print_case.html",
        {"case": case, "patient": case.patient, "unmask": unmask, "today": facts.today()},
    )


@recorder
def patient_edit(request: StaffRequest, pk: int) -> HttpResponse:
    patient = selectors.patient_get(request.user, pk)
    reviewer = access.may_review(request.user)
    initial = {"name": patient.name, "phone": patient.phone, "address": patient.address}
    if reviewer:
        initial["cert_number"] = patient.cert_number
    form = PatientEditForm(request.POST or None, initial=initial, may_correct_certificate=reviewer)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            patient_correct(
                by=request.user,
                patient=patient,
                name=data["name"],
                phone=data["phone"],
                address=data["address"],
                cert_number=data.get("cert_number") or None,
                reason=data["reason"],
            )
        except PolicyRefusal as refusal:
            show_refusal(form, refusal)
        else:
            messages.success(request, "参保人信息已更正，原信息保留在变更记录中。")
            return redirect("patient_detail", pk=patient.pk)
    return render(
        request, "cases/form.html", {"form": form, "patient": patient, "title": "更正参保人信息"}
    )


def selection_slots(
    selections: list[Selection], today: dt.date, limit: int
) -> list[dict[str, Any]]:
    """As many boxes as SL-1 allows today: the selections active today, then those not yet
    started, in the order of their slot number (定点排序号), then empty boxes."""
    current = [s for s in selections if rules.Period(s.start, s.end).covers(today)]
    upcoming = [s for s in selections if s.start > today]
    shown = sorted(current, key=lambda s: s.slot) + sorted(
        upcoming, key=lambda s: (s.start, s.slot)
    )
    boxes: list[dict[str, Any]] = [{"slot": s.slot, "selection": s} for s in shown]
    used = {s.slot for s in shown}
    free = (n for n in range(1, limit + len(used) + 1) if n not in used)
    boxes += [{"slot": next(free), "selection": None} for _ in range(limit - len(boxes))]
    return boxes


@bureau_staff
def patient_detail(request: StaffRequest, pk: int) -> HttpResponse:
    case = selectors.case_file(request.user, pk)
    remember_patient(request, case.patient.pk)
    today = facts.today()
    unmask = access.unmasked(request, f"参保人档案 #{case.patient.pk}")
    params = parameters_on(today)
    limit = params.max_selected_institutions
    # FL-4: a long-term filing is not offered for change or cancellation while locked.
    for filing in case.filings:
        lifts = rules.lock_lift_day(filing.start, params)
        filing.locked_until = lifts if filing.type == rules.FilingType.LONG_TERM else None  # type: ignore[attr-defined]
        filing.locked = filing.locked_until is not None and today < lifts  # type: ignore[attr-defined]
    return render(
        request,
        "cases/patient_detail.html",
        {
            "case": case,
            "patient": case.patient,
            "today": today,
            "slots": selection_slots(case.selections, today, limit),
            "limit": limit,
            "ended_selections": [
                s for s in case.selections if s.end is not None and s.end <= today
            ],
            "timeline": selectors.timeline(case.patient),
            "unmask": unmask,
            "may_review": access.may_review(request.user),
            # MV-5: a patient who moved out of Guangxi is read-only.
            "writable": access.may_record(request.user) and case.patient.moved_out_on is None,
            "cancellable": (Qualification.Status.APPROVED, Qualification.Status.EXPIRED),
            "finder_url": reverse("institution_finder") + f"?patient={case.patient.pk}",
        },
    )
