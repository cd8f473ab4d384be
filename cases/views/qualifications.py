"""Applying for a qualification and the four-eyes review (QL-1..5)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render

from cases import access, facts, rules, selectors
from cases.forms import (
    ApplyForm,
    CancelQualificationForm,
    ReviewForm,
    show_refusal,
    today_initial,
)
from cases.models import Qualification
from cases.services import PolicyRefusal
from cases.services.qualifications import (
    qualification_apply,
    qualification_approve,
    qualification_cancel,
    qualification_reject,
)
from cases.views.common import (
    EXPORT_FORMATS,
    StaffRequest,
    bureau_staff,
    export,
    recorder,
    submit,
)
from cases.views.patients import EXPORT_LIMIT


@recorder
def apply(request: StaffRequest, pk: int) -> HttpResponse:
    patient = selectors.patient_get(request.user, pk)
    form = ApplyForm(request.POST or None, initial=today_initial(), patient=patient)
    if request.method == "POST":
        applied = submit(
            form,
            lambda data: qualification_apply(
                by=request.user,
                patient=patient,
                disease=data["disease"],
                applied_on=data["applied_on"],
                diagnosis_institution=data["diagnosis_institution"],
                diagnosis_date=data["diagnosis_date"],
                diagnosis_doctor=data["diagnosis_doctor"] or "",
                channel=data["channel"] or rules.Channel.WINDOW,
                agent=form.agent(),
            ),
            needs=("disease", "applied_on"),
        )
        if applied is not None:
            messages.success(request, "申请已录入，等待另一名工作人员复核。")
            return redirect("patient_detail", pk=patient.pk)
    return render(
        request, "cases/form.html", {"form": form, "patient": patient, "title": "门特资格申请"}
    )


def _reviewable(request: StaffRequest, pk: int) -> Qualification:
    # Scope first: a record of another bureau is a 404 whatever the user's role.
    qualification = selectors.qualification_get(request.user, pk)
    if not access.may_review(request.user):
        raise PermissionDenied("只有复核人员才能复核门特资格。")
    return qualification


@bureau_staff
def review(request: StaffRequest, pk: int) -> HttpResponse:
    qualification = _reviewable(request, pk)
    own = qualification.recorded_by_id == request.user.pk
    form = ReviewForm(request.POST or None, initial=today_initial())
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if data["decision"] == "approve":
                qualification_approve(
                    by=request.user,
                    qualification=qualification,
                    decided_on=data["decided_on"],
                    note=data["note"],
                )
                messages.success(request, "已认定通过。")
            else:
                qualification_reject(
                    by=request.user,
                    qualification=qualification,
                    decided_on=data["decided_on"],
                    reason=data["note"],
                )
                messages.success(request, "已作出不予认定决定。")
        except PolicyRefusal as refusal:
            show_refusal(form, refusal, {"reason": "note"})
        else:
            following = selectors.reviews_waiting(request.user).first()
            if following is None:
                messages.info(request, "复核队列已全部处理。")
                return redirect("review_queue")
            return redirect("qualification_review", pk=following.pk)
    return render(
        request,
        "cases/review.html",
        {
            "form": form,
            "qualification": qualification,
            "patient": qualification.patient,
            "own": own,
        },
    )


@recorder
def cancel(request: StaffRequest, pk: int) -> HttpResponse:
    qualification = selectors.qualification_get(request.user, pk)
    form = CancelQualificationForm(request.POST or None, initial=today_initial())
    if request.method == "POST" and form.is_valid():
        try:
            qualification_cancel(
                by=request.user,
                qualification=qualification,
                day=form.cleaned_data["day"],
                reason=form.cleaned_data["reason"],
            )
        except PolicyRefusal as refusal:
            show_refusal(form, refusal)
        else:
            messages.success(request, "门特资格已取消。")
            return redirect("patient_detail", pk=qualification.patient_id)
    title = f"取消门特资格：{qualification.disease.code} {qualification.disease.name}"
    return render(
        request,
        "cases/form.html",
        {"form": form, "patient": qualification.patient, "title": title},
    )


@bureau_staff
def review_queue(request: StaffRequest) -> HttpResponse:
    if not access.may_review(request.user):
        raise PermissionDenied("只有复核人员才能使用复核队列。")
    queue = selectors.reviews_waiting(request.user)
    fmt = request.GET.get("export", "")
    if fmt in EXPORT_FORMATS:
        return export(
            request,
            what="待复核队列",
            name="待复核申请",
            fmt=fmt,
            headers=["姓名", "证件号码", "病种", "申请日期", "录入人"],
            rows=lambda unmask: [
                [
                    q.patient.name,
                    q.patient.cert_number if unmask else q.patient.masked_cert_number,
                    f"{q.disease.code} {q.disease.name}",
                    q.applied_on.isoformat(),
                    q.recorded_by.get_full_name() or q.recorded_by.username,
                ]
                for q in queue[:EXPORT_LIMIT]
            ],
        )
    return render(
        request,
        "cases/review_queue.html",
        {"queue": queue[:200], "count": queue.count(), "today": facts.today()},
    )
