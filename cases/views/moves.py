"""Patients who move (参保地变更): requests, answers and moves out of Guangxi (MV-1..MV-6)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render

from cases import access, facts, selectors
from cases.forms import MoveAnswerForm, MoveOutForm, MoveRequestForm, show_refusal
from cases.masking import mask_name
from cases.models import MoveRequest
from cases.services import PolicyRefusal
from cases.services.moves import move_accept, move_out, move_refuse, move_request, preview
from cases.services.patients import find_registered
from cases.views.common import StaffRequest, bureau_staff, recorder

# The certificate a register form found at another bureau, for the request form.
MOVE_CANDIDATE = "move_candidate"


@bureau_staff
def move_list(request: StaffRequest) -> HttpResponse:
    """转出申请 to answer, and the requests this bureau made."""
    moves = list(selectors.moves(request.user)[:200])
    mine = request.user.bureau_id
    return render(
        request,
        "cases/moves.html",
        {
            "to_answer": [m for m in moves if m.from_bureau_id == mine],
            "made": [m for m in moves if m.to_bureau_id == mine],
        },
    )


@recorder
def move_new(request: StaffRequest) -> HttpResponse:
    """申请转入: a number registered at another bureau, asked for (MV-1)."""
    bureau = request.user.bureau
    assert bureau is not None  # noqa: S101 - @recorder: staff of a bureau
    cert_type, cert_number = request.session.pop(MOVE_CANDIDATE, None) or ("resident_id", "")
    initial = {
        "cert_type": cert_type,
        "cert_number": cert_number,
        "region": bureau.county_id,
        "effective": facts.today(),
    }
    form = MoveRequestForm(request.POST or None, initial=initial, county=bureau.county_id)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        patient = find_registered(data["cert_type"], data["cert_number"])
        if patient is None:
            form.add_error("cert_number", "MV-1：没有该证件号码的参保人；新参保人请直接登记。")
        else:
            try:
                move = move_request(
                    by=request.user,
                    patient=patient,
                    region=data["region"],
                    effective=data["effective"],
                    voucher=data["voucher"],
                )
            except PolicyRefusal as refusal:
                show_refusal(form, refusal)
            else:
                messages.success(request, "已提交转入申请，等待原经办机构答复。")
                return redirect("move_detail", pk=move.pk)
    return render(request, "cases/form.html", {"form": form, "title": "申请转入参保人"})


@bureau_staff
def move_detail(request: StaffRequest, pk: int) -> HttpResponse:
    """The request: for the owning bureau, what accepting does to each record and the
    answer; for the requesting bureau, the masked name and the state (MV-1)."""
    move = selectors.move_get(request.user, pk)
    owner = move.from_bureau_id == request.user.bureau_id
    answering = owner and move.status == MoveRequest.Status.PENDING
    form = MoveAnswerForm(request.POST or None) if answering else None
    if request.method == "POST":
        if form is None or not access.may_answer_move(request.user, move):
            raise PermissionDenied("只有原经办机构的经办人员可以答复待答复的转入申请。")
        if form.is_valid():
            data = form.cleaned_data
            try:
                if data["decision"] == "accept":
                    move_accept(by=request.user, move=move)
                    messages.success(request, "已接受转入申请，参保人已转由对方经办。")
                    return redirect("move_list")
                move_refuse(by=request.user, move=move, reason=data["reason"])
                messages.success(request, "已拒绝转入申请。")
                return redirect("move_detail", pk=move.pk)
            except PolicyRefusal as refusal:
                show_refusal(form, refusal)
    plan = preview(move) if answering else None
    patient = move.patient
    return render(
        request,
        "cases/move_detail.html",
        {
            "move": move,
            "owner": owner,
            "form": form,
            "plan": plan,
            # In full only to the bureau that keeps the case now.
            "shown_name": patient.name
            if patient.bureau_id == request.user.bureau_id
            else mask_name(patient.name),
        },
    )


@recorder
def patient_move_out(request: StaffRequest, pk: int) -> HttpResponse:
    """MV-5: the owning bureau records a move out of Guangxi."""
    patient = selectors.patient_get(request.user, pk)
    form = MoveOutForm(request.POST or None, initial={"day": facts.today()})
    if request.method == "POST" and form.is_valid():
        try:
            move_out(by=request.user, patient=patient, day=form.cleaned_data["day"])
        except PolicyRefusal as refusal:
            show_refusal(form, refusal)
        else:
            messages.success(request, "已登记转出广西，参保人档案只读。")
            return redirect("patient_detail", pk=patient.pk)
    return render(
        request,
        "cases/form.html",
        {"form": form, "patient": patient, "title": "登记转出广西"},
    )
