"""Transfer letters: issue and print (TL-1..5)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render

from cases import access, facts, selectors
from cases.forms import LetterForm, show_refusal, today_initial
from cases.services import PolicyRefusal
from cases.services.letters import letter_issue
from cases.views.common import StaffRequest, bureau_staff, recorder
from portal.audit import record_print


@recorder
def issue(request: StaffRequest, pk: int) -> HttpResponse:
    patient = selectors.patient_get(request.user, pk)
    form = LetterForm(request.POST or None, initial=today_initial())
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            letter = letter_issue(by=request.user, patient=patient, **data)
        except PolicyRefusal as refusal:
            show_refusal(form, refusal)
        else:
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
