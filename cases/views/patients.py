"""Patient search, export, registration and the patient page."""

from __future__ import annotations

from typing import Any

import tablib
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from cases import facts, rules, selectors
from cases.forms import RegisterForm, SearchForm, show_refusal
from cases.masking import ID_LIKE, NOT_IN_URLS, identifies_someone
from cases.models import Filing, Patient, Qualification, Selection
from cases.search import name_q, pinyin_q
from cases.services import PolicyRefusal
from cases.services.patients import find_registered, patient_register
from cases.views.common import StaffRequest, bureau_staff, recorder, unmasked
from institutions.parameters import parameters_on
from portal import searches
from portal.audit import record_export
from portal.spreadsheets import CSV, XLSX

PAGE_SIZE = 25
EXPORT_LIMIT = 10_000


def search(user: Any, form: SearchForm) -> QuerySet[Patient]:
    """Patients of the user's bureau matching the search form (see the issue's rules)."""
    qs = selectors.patient_list(user)
    if not form.is_valid():
        return qs.none()
    data = form.cleaned_data
    q = rules.normalize_cert_number(data.get("q") or "")
    if q:
        if q.isdigit() and 7 <= len(q) <= 11:
            qs = qs.filter(Q(phone=q) | Q(cert_number=q))
        elif len(q) == 15 and q.isdigit():
            qs = qs.filter(cert_number=rules.upgrade_first_generation(q))  # ID-1
        elif ID_LIKE.match(q) and any(c.isdigit() for c in q):
            qs = qs.filter(cert_number=q)
        elif q.isascii() and q.isalpha():
            qs = qs.filter(pinyin_q("", q))
        else:
            qs = qs.filter(name_q("name", data["q"]))
    if data.get("insurance_type"):
        qs = qs.filter(insurance_type=data["insurance_type"])
    today = facts.today()
    if data.get("disease"):
        # Holding the qualification today, by its dates (whatever the daily job marked).
        held = Qualification.objects.filter(
            Q(valid_until__isnull=True) | Q(valid_until__gt=today),
            patient=OuterRef("pk"),
            disease=data["disease"],
            status__in=rules.HELD,
            valid_from__lte=today,
        )
        qs = qs.filter(Exists(held))
    if data.get("filing_status"):
        filed = Filing.objects.filter(
            Q(end__isnull=True) | Q(end__gt=today),
            patient=OuterRef("pk"),
            status__in=["active", "expired"],
            start__lte=today,
        )
        active = Exists(filed)
        qs = qs.filter(active) if data["filing_status"] == "active" else qs.exclude(active)
    return qs.order_by("-created_at", "-pk")


def export_response(rows: list[list[Any]], headers: list[str], name: str, fmt: str) -> HttpResponse:
    dataset = tablib.Dataset(*rows, headers=headers)
    if fmt == "xlsx":
        content = XLSX().export_data(dataset)
        response = HttpResponse(content, content_type=XLSX.CONTENT_TYPE)
        extension = "xlsx"
    else:
        response = HttpResponse(CSV().export_data(dataset), content_type="text/csv; charset=utf-8")
        extension = "csv"
    response["Content-Disposition"] = f'attachment; filename="{name}.{extension}"'
    return response


def patient_row(patient: Patient, unmask: bool) -> list[Any]:
    return [
        patient.name,
        patient.cert_number if unmask else patient.masked_cert_number,
        patient.get_insurance_type_display(),
        patient.region.full_name,
        patient.phone if unmask else patient.masked_phone,
        patient.created_at.date().isoformat(),
    ]


SEARCH_FIELDS = ("q", "disease", "insurance_type", "filing_status")
SEARCHES = "patient_searches"  # the session bucket (portal.searches)


@bureau_staff
def patient_search(request: StaffRequest) -> HttpResponse:
    if request.method == "POST":
        form = SearchForm(request.POST)
        if form.is_valid():
            criteria = {f: request.POST.get(f, "") for f in SEARCH_FIELDS}
            key = searches.remember(request, SEARCHES, {f: v for f, v in criteria.items() if v})
            return redirect(f"{reverse('patient_search')}?s={key}")
        qs = selectors.patient_list(request.user).none()
    else:
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
        qs = (
            search(request.user, form)
            if data is not None
            else selectors.patient_list(request.user).order_by("-created_at", "-pk")
        )
    fmt = request.GET.get("export")
    unmask = unmasked(request, "参保人查询" + ("导出" if fmt else "列表"))
    if fmt in ("xlsx", "csv"):
        patients = list(qs[:EXPORT_LIMIT])
        record_export(request.user, "参保人查询结果", len(patients), unmasked=unmask)
        headers = ["姓名", "证件号码", "险种", "参保地", "联系电话", "登记日期"]
        return export_response([patient_row(p, unmask) for p in patients], headers, "patients", fmt)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("export", None)
    return render(
        request,
        "cases/patient_search.html",
        {"form": form, "page": page, "unmask": unmask, "query": query.urlencode()},
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
            form.add_error(
                "cert_number",
                "ID-1：该证件号码的参保人已在其他经办机构登记，请联系参保地经办机构。",
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


def selection_slots(selections: list[Selection], today: Any, limit: int) -> list[dict[str, Any]]:
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
    today = facts.today()
    unmask = unmasked(request, f"参保人档案 #{case.patient.pk}")
    limit = parameters_on(today).max_selected_institutions
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
            "may_review": request.user.has_perm("cases.review_qualification"),
            "finder_url": reverse("institution_finder") + f"?patient={case.patient.pk}",
        },
    )
