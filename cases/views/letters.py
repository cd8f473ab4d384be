"""Transfer letters: issue and print (TL-1..5)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render

from cases import access, facts, selectors
from cases.forms import LetterForm, today_initial
from cases.services.letters import letter_issue
from cases.views.common import StaffRequest, bureau_staff, recorder, submit
from portal.audit import record_print


@recorder
def issue(request: StaffRequest, pk: int) -> HttpResponse:
    patient = selectors.patient_get(request.user, pk)
    form = LetterForm(request.POST or None, initial=today_initial())
    if request.method == "POST":
        needed = ("disease", "issuer", "receiver", "reason", "issued_on")
        letter = submit(
            form,
            lambda data: letter_issue(
                by=request.user,
                patient=patient,
                **{k: data[k] for k in needed},
                reason_text=data["reason_text"] or "",
            ),
            needs=needed,
        )
        if letter is not None:
            messages.success(request, f"已开具转诊证明 {letter.serial}。")
            return redirect("patient_detail", pk=patient.pk)
    return render(
        request,
        "cases/form.html",
        {
            "form": form,
            "patient": patient,
            "title": "开具转诊证明",
            "institution_autocomplete": True,
            "quick": selectors.patient_choices(patient, facts.today()),
        },
    )


@bureau_staff
def letter_print(request: StaffRequest, pk: int) -> HttpResponse:
    letter = selectors.letter_get(request.user, pk)
    record_print(request.user, f"转诊证明 {letter.serial}")
    return render(
        request,
        "cases/print_letter.html",
        {
            "letter": letter,
            "patient": letter.patient,
            "unmask": access.unmasked(request, f"转诊证明 {letter.serial}"),
        },
    )
