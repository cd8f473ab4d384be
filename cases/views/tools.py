"""Settlement check, institution finder and autocomplete, and the policy page."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from cases import facts, rules, selectors
from cases.forms import FinderForm, SettlementForm, rule_link, today_initial
from cases.models import Patient
from cases.policy_catalog import SECTIONS
from cases.settlement import settlement_answers
from cases.views.common import StaffRequest, bureau_staff, reads_by_post
from institutions.parameters import SPECS, parameters_on


@bureau_staff
@reads_by_post
def settlement(request: StaffRequest) -> HttpResponse:
    # A patient page links here by id (pid), so no full ID number travels in a URL.
    linked = None
    pid = (request.POST if request.method == "POST" else request.GET).get("pid", "")
    if str(pid).isdigit():
        linked = selectors.patient_get(request.user, pid)
    initial = {**today_initial(), "institution": request.GET.get("institution", "")}
    # The form posts (a typed ID number never travels in a URL); a link from the patient
    # page may ask by id.
    bound: Any = None
    if request.method == "POST":
        bound = request.POST
    elif "disease" in request.GET and linked is not None:
        bound = request.GET.copy()
        bound.pop("patient", None)
    form = SettlementForm(bound, initial=initial)
    answer = platform = None
    patient = linked
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if patient is None:
            patient = (
                selectors.patient_list(request.user)
                .filter(cert_number=rules.upgrade_first_generation(data["patient"]))
                .first()
            )
        if patient is None:
            form.add_error("patient", "本经办机构没有登记这个证件号码的参保人。")
        else:
            answer, platform = settlement_answers(
                patient=patient,
                institution=data["institution"],
                disease=data["disease"],
                day=data["day"],
            )
    failed = [(rule_link(v.rule), v.message) for v in answer.failed] if answer else []
    quick = (
        selectors.patient_choices(linked, facts.today(), institutions="institution")
        if linked is not None
        else []
    )
    return render(
        request,
        "cases/settlement.html",
        {
            "form": form,
            "answer": answer,
            "platform": platform,
            "patient": patient,
            "linked": linked,
            "failed": failed,
            "outcome_label": answer.outcome.label if answer else "",
            "quick": quick,
            "next_steps": next_steps(answer, form, patient) if answer else [],
        },
    )


def next_steps(
    answer: rules.SettlementAnswer, form: SettlementForm, patient: Patient | None
) -> list[tuple[str, str]]:
    """After MANUAL or NOT_COVERED: where the patient could settle directly instead (the
    networked institutions of that place), and adding this one as a selection (ST-2)."""
    if answer.outcome == rules.Outcome.DIRECT or patient is None:
        return []
    institution, disease = form.cleaned_data["institution"], form.cleaned_data["disease"]
    place = institution.location.prefecture_id or institution.location_id
    finder = (
        reverse("institution_finder")
        + "?"
        + urlencode({"destination": place, "disease": disease.pk, "patient": patient.pk})
    )
    steps = [(finder, f"查找该地开通“{disease.name}”联网结算的机构")]
    if "ST-2" in rules.rules_of(answer.failed):
        add = reverse("selection_add", args=[patient.pk]) + f"?institution={institution.code}"
        steps.append((add, f"将{institution.name}新增为选点机构"))
    return steps


AUTOCOMPLETE_MIN_LENGTH = 2


@bureau_staff
def institution_autocomplete(request: StaffRequest) -> JsonResponse:
    term = request.GET.get("q", "")
    if len(rules.normalize_cert_number(term)) < AUTOCOMPLETE_MIN_LENGTH:
        return JsonResponse({"results": []})
    results = [{"code": code, "name": name} for code, name in selectors.institution_choices(term)]
    return JsonResponse({"results": results})


@bureau_staff
def institution_finder(request: StaffRequest) -> HttpResponse:
    form = FinderForm(request.GET if "destination" in request.GET else None)
    patient: Patient | None = None
    if request.GET.get("patient", "").isdigit():
        patient = selectors.patient_get(request.user, request.GET["patient"])
    results = []
    if form.is_bound and form.is_valid():
        results = selectors.networked_institutions(
            form.cleaned_data["destination"], form.cleaned_data["disease"], facts.today()
        )
    return render(
        request, "cases/finder.html", {"form": form, "results": results, "patient": patient}
    )


def policy(request: StaffRequest) -> HttpResponse:
    params = parameters_on(facts.today())
    sections = []
    for title, items in SECTIONS:
        sections.append(
            (
                title,
                [
                    (rule, [(SPECS[key].label, params.value(key)) for key in rule.parameters])
                    for rule in items
                ],
            )
        )
    return render(request, "cases/policy.html", {"sections": sections, "today": params.on})
