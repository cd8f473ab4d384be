"""Cross-province filings: create, cancel, and the printed receipt (FL-1..10)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render

from cases import access, rules, selectors
from cases.forms import (
    CancelFilingForm,
    ChangeFilingForm,
    FilingForm,
    show_refusal,
    today_initial,
)
from cases.services import PolicyRefusal
from cases.services.filings import filing_cancel, filing_change, filing_create
from cases.views.common import StaffRequest, bureau_staff, recorder, submit
from portal.audit import record_print


@recorder
def create(request: StaffRequest, pk: int) -> HttpResponse:
    patient = selectors.patient_get(request.user, pk)
    form = FilingForm(
        request.POST or None,
        patient=patient,
        initial={**today_initial(), "end": None, "materials": ["identity"]},
    )
    if request.method == "POST":
        filing = submit(
            form,
            lambda data: filing_create(
                by=request.user,
                patient=patient,
                type=data["type"],
                subtype=data["subtype"],
                destination=data["destination"],
                start=data["start"],
                end=data["end"],
                channel=data["channel"] or rules.Channel.WINDOW,
                agent=form.agent(),
                materials=data["materials"] or (),
                transfer_letter=data["transfer_letter"],
            ),
            needs=("type", "subtype", "start"),
        )
        if filing is not None:
            messages.success(request, "备案已办理。")
            return (
                redirect("filing_receipt", pk=filing.pk)
                if "print" in request.POST
                else redirect("patient_detail", pk=patient.pk)
            )
    return render(
        request,
        "cases/form.html",
        {
            "form": form,
            "patient": patient,
            "title": "办理跨省异地就医备案",
            "subtypes": rules.SUBTYPES,
            "required_materials": {
                subtype: "；".join("或".join(m.label for m in options) for options in required)
                for subtype, required in rules.REQUIRED_MATERIALS.items()
            },
        },
    )


@recorder
def cancel(request: StaffRequest, pk: int) -> HttpResponse:
    filing = selectors.filing_get(request.user, pk)
    form = CancelFilingForm(request.POST or None, initial=today_initial())
    if request.method == "POST" and form.is_valid():
        try:
            filing_cancel(
                by=request.user,
                filing=filing,
                day=form.cleaned_data["day"],
                reason=form.cleaned_data["reason"],
            )
        except PolicyRefusal as refusal:
            show_refusal(form, refusal)
        else:
            messages.success(request, "备案已取消。")
            return redirect("patient_detail", pk=filing.patient_id)
    return render(
        request,
        "cases/form.html",
        {"form": form, "patient": filing.patient, "title": f"取消备案：{filing}"},
    )


@recorder
def change(request: StaffRequest, pk: int) -> HttpResponse:
    filing = selectors.filing_get(request.user, pk)
    form = ChangeFilingForm(request.POST or None, initial=today_initial())
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            new = filing_change(
                by=request.user,
                filing=filing,
                day=data["day"],
                destination=data["destination"],
                materials=data["materials"],
                reason=data["reason"],
                channel=data["channel"],
                agent=form.agent(),
            )
        except PolicyRefusal as refusal:
            show_refusal(form, refusal)
        else:
            messages.success(request, f"备案已变更，新的备案自 {new.start} 起生效。")
            return redirect("patient_detail", pk=filing.patient_id)
    return render(
        request,
        "cases/form.html",
        {"form": form, "patient": filing.patient, "title": f"变更备案：{filing}"},
    )


@bureau_staff
def receipt(request: StaffRequest, pk: int) -> HttpResponse:
    filing = selectors.filing_get(request.user, pk)
    record_print(request.user, f"备案回执 #{filing.pk}")
    return render(
        request,
        "cases/print_receipt.html",
        {
            "filing": filing,
            "patient": filing.patient,
            "unmask": access.unmasked(request, f"备案回执 #{filing.pk}"),
        },
    )
