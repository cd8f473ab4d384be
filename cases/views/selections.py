"""Selecting institutions (选点) and ending a selection (SL-1..6)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from cases import facts, selectors
from cases.forms import (
    EndSelectionForm,
    InstitutionField,
    SelectionForm,
    show_refusal,
    today_initial,
)
from cases.services import PolicyRefusal
from cases.services.selections import selection_add, selection_end
from cases.views.common import StaffRequest, recorder, submit
from institutions.parameters import parameters_on


@recorder
def add(request: StaffRequest, pk: int) -> HttpResponse:
    patient = selectors.patient_get(request.user, pk)
    initial = {**today_initial(), "institution": request.GET.get("institution", "")}
    form = SelectionForm(request.POST or None, initial=initial)
    if request.method == "POST":
        result = submit(
            form,
            lambda data: selection_add(
                by=request.user,
                patient=patient,
                institution=data["institution"],
                start=data["start"],
            ),
            needs=("institution", "start"),
        )
        if result is not None:
            for notice in result.notices:
                messages.warning(request, notice)
            messages.success(
                request,
                f"已选定{result.selection.institution.name}（选点位{result.selection.slot}）。",
            )
            return redirect("patient_detail", pk=patient.pk)
    # SL-1 explained before the form: when every slot is taken today, which one to end,
    # coming back here with the institution as typed.
    today = facts.today()
    active = selectors.active_selections(patient, today)
    limit = parameters_on(today).max_selected_institutions
    typed = request.POST.get("institution") or request.GET.get("institution", "")
    back = reverse("selection_add", args=[patient.pk]) + "?" + urlencode({"institution": typed})
    preview = None
    if request.method == "GET" and typed:
        try:
            chosen = InstitutionField().clean(typed)
        except ValidationError:
            chosen = None
        if chosen is not None:
            preview = (chosen, selectors.selection_preview(patient, chosen, today))
    return render(
        request,
        "cases/form.html",
        {
            "form": form,
            "patient": patient,
            "title": "新增选点机构",
            "institution_autocomplete": True,
            "slots_full": active if len(active) >= limit else [],
            "preview": preview,
            "limit": limit,
            "then": back,
        },
    )


@recorder
def end(request: StaffRequest, pk: int) -> HttpResponse:
    selection = selectors.selection_get(request.user, pk)
    form = EndSelectionForm(request.POST or None, initial=today_initial())
    if request.method == "POST" and form.is_valid():
        try:
            selection_end(
                by=request.user,
                selection=selection,
                end=form.cleaned_data["end"],
                reason=form.cleaned_data["end_reason"],
            )
        except PolicyRefusal as refusal:
            show_refusal(form, refusal)
        else:
            messages.success(request, "选点已终止。")
            then = request.GET.get("then", "")
            if then and url_has_allowed_host_and_scheme(
                then, allowed_hosts={request.get_host()}, require_https=request.is_secure()
            ):
                return redirect(then)
            return redirect("patient_detail", pk=selection.patient_id)
    return render(
        request,
        "cases/form.html",
        {
            "form": form,
            "patient": selection.patient,
            "title": f"终止选点：{selection.institution.name}",
        },
    )
