"""Patients who move (参保地变更): request, accept, refuse, move out (MV-1..MV-6)."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction

from cases import access, facts, rules
from cases.masking import mask_name
from cases.models import (
    Filing,
    InsuredPeriod,
    MoveRequest,
    Notification,
    Patient,
    Qualification,
    Reminder,
    Selection,
    TransferLetter,
)
from cases.rules import moves
from cases.services import PolicyRefusal, lock_patient, refuse_if, save_as
from institutions.models import Region
from institutions.parameters import parameters_on
from portal.models import Bureau, Role, User

INFORMED_ROLES = (Role.CLERK, Role.REVIEWER, Role.BUREAU_ADMIN)


def _lock(patient: Patient | int) -> Patient:
    """The patient's row locked, read as it is once the lock is held (see lock_patient)."""
    pk = patient if isinstance(patient, int) else patient.pk
    rows = access.across_bureaus(
        Patient.objects.select_for_update().select_related("region", "bureau").filter(pk=pk),
        "MV: the patient a move is about",
    )
    try:
        return rows.get()
    except Patient.DoesNotExist:
        return rows.all().get()


def _periods(patient: Patient) -> list[InsuredPeriod]:
    return list(
        access.across_bureaus(
            InsuredPeriod.objects.filter(patient=patient).select_related("region"), "MV-6"
        )
    )


def previous_move(patient: Patient) -> dt.date | None:
    """The start of the patient's latest insured period after registration, if any."""
    starts = [p.start for p in _periods(patient) if p.start is not None]
    return max(starts) if starts else None


def inform(bureau_ids: set[int], patient: Patient, title: str, body: str) -> None:
    """A message in the inbox of every clerk, reviewer and administrator of the bureaus."""
    staff = User.objects.filter(bureau_id__in=bureau_ids, role__in=INFORMED_ROLES, is_active=True)
    Notification.objects.bulk_create(
        [Notification(user=user, patient=patient, title=title, body=body) for user in staff]
    )


def _masked(patient: Patient) -> str:
    return f"{mask_name(patient.name)}（{patient.masked_cert_number}）"


@transaction.atomic
def move_request(
    *,
    by: User,
    patient: Patient,
    region: Region | None,
    effective: dt.date | None,
    voucher: str,
    today: dt.date | None = None,
) -> MoveRequest:
    """MV-1/MV-2: the receiving bureau (``by``'s) asks for a patient registered at another
    bureau, naming the new insured county (one it serves), the date and the voucher."""
    today = today or facts.today()
    bureau = by.bureau
    patient = _lock(patient)
    pending = access.across_bureaus(
        MoveRequest.objects.filter(patient=patient, status=MoveRequest.Status.PENDING), "MV-2"
    ).exists()
    moved_out = patient.moved_out_on is not None
    violations = moves.check_move_request(
        owned_here=bureau is not None and patient.bureau_id == bureau.pk and not moved_out,
        # MV-1 with ID-6: only a county bureau keeps cases; its own county.
        region_served=bool(
            region and bureau and bureau.keeps_cases and region.code == bureau.county_id
        ),
        effective=effective,
        voucher=voucher,
        today=today,
        previous_move=patient.moved_out_on or previous_move(patient),
        pending=pending,
    )
    refuse_if(violations)
    assert region is not None  # noqa: S101 - MV-1 refused a missing county
    assert bureau is not None  # noqa: S101 - MV-1 refused a user of no bureau
    assert effective is not None  # noqa: S101 - MV-2 refused a missing date
    move = MoveRequest(
        patient=patient,
        from_bureau_id=patient.bureau_id,
        to_bureau=bureau,
        region=region,
        effective=effective,
        voucher=voucher.strip()[:50],
        requested_by=by,
        requested_on=today,
    )
    try:
        with transaction.atomic():
            save_as(move, by)
    except IntegrityError as exc:
        raise PolicyRefusal(
            [rules.Violation("MV-2", "该参保人已有一份待答复的转入申请，请等待答复。")]
        ) from exc
    inform(
        {patient.bureau_id, bureau.pk},
        patient,
        f"转入申请：{_masked(patient)}",
        f"{bureau.name}申请将参保人{_masked(patient)}转入{region.full_name}，"
        f"生效日期 {effective}，凭证号 {move.voucher}。请{patient.bureau.name}答复。",
    )
    return move


def _record_facts(patient: Patient) -> list[tuple[moves.RecordFacts, object]]:
    """Each record of the patient as the move rules see it, with the record itself."""
    out: list[tuple[moves.RecordFacts, object]] = []
    for q in access.under_patient(Qualification.objects.all(), patient):
        start = q.valid_from or q.applied_on
        end = q.valid_until if q.status in rules.HELD else None
        if q.status == rules.QualificationStatus.REJECTED:
            end = start
        out.append(
            (moves.RecordFacts(q.pk, "qualification", rules.Period(start, end), q.status), q)
        )
    for s in access.under_patient(
        Selection.objects.select_related("institution__location"), patient
    ):
        location = s.institution.location
        out.append(
            (
                moves.RecordFacts(
                    s.pk,
                    "selection",
                    rules.Period(s.start, s.end),
                    scope=s.scope,
                    institution_prefecture=location.prefecture_id or location.code,
                    institution_province=location.code[:2],
                ),
                s,
            )
        )
    for f in access.under_patient(Filing.objects.all(), patient):
        out.append((moves.RecordFacts(f.pk, "filing", rules.Period(f.start, f.end), f.status), f))
    for x in access.under_patient(TransferLetter.objects.all(), patient):
        out.append(
            (moves.RecordFacts(x.pk, "letter", rules.Period(x.issued_on, x.end), x.status), x)
        )
    return out


def preview(move: MoveRequest) -> moves.MovePlan:
    """What accepting ``move`` would do to each record (the answer page shows it)."""
    patient = move.patient
    old = patient.region
    new = move.region
    return moves.move_plan(
        same_prefecture=(old.prefecture_id or old.code) == (new.prefecture_id or new.code),
        carries_over=parameters_on(move.effective).qualification_carries_over,
        effective=move.effective,
        new_prefecture=new.prefecture_id or new.code,
        records=[f for f, _ in _record_facts(patient)],
    )


def _end(record: object, day: dt.date, by: User, reason: str) -> None:
    """A record ends on ``day`` (never lengthened), with the move in its history."""
    if isinstance(record, Qualification):
        if record.status == rules.QualificationStatus.SUBMITTED:
            record.status = rules.QualificationStatus.REJECTED
            record.decided_on = max(day, record.applied_on)
        else:
            record.status = rules.QualificationStatus.CANCELLED
            if record.valid_until is None or day < record.valid_until:
                record.valid_until = max(day, record.valid_from or day)
        record.decision_note = reason
    elif isinstance(record, Selection):
        record.end = max(day, record.start)
        record.end_reason = reason
    elif isinstance(record, Filing):
        record.status = rules.FilingStatus.CANCELLED
        record.cancelled_on = day
        record.cancel_reason = reason
        if record.end is None or day < record.end:
            record.end = max(day, record.start)
    elif isinstance(record, TransferLetter) and day < record.end:
        record.end = max(day, record.issued_on + dt.timedelta(days=1))
    record._change_reason = reason  # type: ignore[attr-defined]
    save_as(record, by)  # type: ignore[arg-type]


@transaction.atomic
def move_accept(*, by: User, move: MoveRequest, day: dt.date | None = None) -> MoveRequest:
    """MV-1, MV-3, MV-4: the owning bureau accepts; the patient, the insured county and the
    records move from the effective date in one transaction."""
    day = day or facts.today()
    patient = lock_patient(move.patient_id, by, "region", "bureau")  # the owner only (MV-1)
    move = access.across_bureaus(MoveRequest.objects.select_related("region"), "MV-1").get(
        pk=move.pk
    )
    refuse_if(
        moves.check_move_answer(
            pending=move.status == MoveRequest.Status.PENDING, effective=move.effective, today=day
        )
    )
    if patient.bureau_id != move.from_bureau_id:
        raise PolicyRefusal([rules.Violation("MV-1", "该参保人已不由本经办机构经办。")])
    move.patient = patient
    plan = preview(move)
    old_bureau: Bureau = patient.bureau
    new_bureau = move.to_bureau
    reason = f"{moves.MOVE_REASON}：{old_bureau.name} → {new_bureau.name}（转入申请 #{move.pk}）"
    records = {(f.kind, f.id): r for f, r in _record_facts(patient)}
    for step in plan.steps:
        record = records[step.record.kind, step.record.id]
        if step.action == "end":
            _end(record, move.effective, by, f"{moves.MOVE_REASON}（转入申请 #{move.pk}）")
        elif step.action == "rescope":
            assert isinstance(record, Selection)  # noqa: S101 - only selections are rescoped
            _rescope(record, move.effective, step.scope, by, reason)
    # The insured county from the effective date (MV-6).
    for period in _periods(patient):
        if period.end is None:
            period.end = move.effective
            period._change_reason = reason  # type: ignore[attr-defined]
            save_as(period, by)
    save_as(
        InsuredPeriod(
            patient=patient, region=move.region, bureau=new_bureau, start=move.effective, move=move
        ),
        by,
    )
    patient.region = move.region
    patient.bureau = new_bureau
    patient.insured_since = move.effective
    patient.moved_out_on = None
    patient._change_reason = reason  # type: ignore[attr-defined]
    save_as(patient, by)  # the records' bureau follows (trigger, migration 0005)
    # The patient's reminders are the new bureau's to see from now on (the admin scopes
    # them by bureau); those already delivered stay in the old bureau's inboxes.
    access.under_patient(Reminder.objects.all(), patient).update(bureau=new_bureau)
    move.status = MoveRequest.Status.ACCEPTED
    move.answered_by = by
    move.answered_on = day
    save_as(move, by)
    ended = [s for s in plan.of("end") if s.record.kind in ("filing", "letter")]
    body = f"{old_bureau.name}已接受转入申请，参保人{_masked(patient)}自 {move.effective} 起由{new_bureau.name}经办。"
    if ended:
        body += f"有 {len(ended)} 份跨省备案或转诊证明已于生效日终止，如需请重新办理。"
    inform({old_bureau.pk, new_bureau.pk}, patient, f"转入申请已接受：{_masked(patient)}", body)
    return move


def _rescope(selection: Selection, day: dt.date, scope: str, by: User, reason: str) -> None:
    """MV-4: the selection's scope changes from ``day``: it ends, and the same institution
    continues in the same slot with the new scope."""
    if selection.start >= day:
        selection.scope = scope
        selection._change_reason = reason  # type: ignore[attr-defined]
        save_as(selection, by)
        return
    end, end_reason = selection.end, selection.end_reason
    selection.end = day
    selection.end_reason = moves.MOVE_REASON
    selection._change_reason = reason  # type: ignore[attr-defined]
    save_as(selection, by)
    continued = Selection(
        patient_id=selection.patient_id,
        institution_id=selection.institution_id,
        slot=selection.slot,
        start=day,
        end=end,
        end_reason=end_reason,
        scope=scope,
        basis_filing_id=selection.basis_filing_id,
        basis_letter_id=selection.basis_letter_id,
        created_by=by,
    )
    continued._change_reason = reason  # type: ignore[attr-defined]
    save_as(continued, by)


@transaction.atomic
def move_refuse(
    *, by: User, move: MoveRequest, reason: str, day: dt.date | None = None
) -> MoveRequest:
    """MV-1: the owning bureau refuses, with a reason."""
    day = day or facts.today()
    patient = lock_patient(move.patient_id, by)  # the owner only (MV-1)
    move = access.across_bureaus(MoveRequest.objects.all(), "MV-1").get(pk=move.pk)
    violations = []
    if move.status != MoveRequest.Status.PENDING:
        violations.append(rules.Violation("MV-1", "该申请已答复，不能再次答复。"))
    violations += moves.check_refusal(reason)
    refuse_if(violations)
    move.status = MoveRequest.Status.REFUSED
    move.answered_by = by
    move.answered_on = day
    move.refusal_reason = reason.strip()[:200]
    save_as(move, by)
    inform(
        {move.from_bureau_id, move.to_bureau_id},
        patient,
        f"转入申请被拒绝：{_masked(patient)}",
        f"转入申请 #{move.pk} 未被接受，理由：{move.refusal_reason}",
    )
    return move


@transaction.atomic
def move_out(
    *, by: User, patient: Patient, day: dt.date | None, today: dt.date | None = None
) -> Patient:
    """MV-5: the owning bureau records a move out of Guangxi; every record still applying
    ends on ``day`` and the patient becomes read-only."""
    today = today or facts.today()
    patient = lock_patient(patient, by, "region", "bureau")  # the owner only (MV-5)
    refuse_if(
        moves.check_move_out(
            day=day,
            today=today,
            previous_move=previous_move(patient),
            moved_out=patient.moved_out_on is not None,
        )
    )
    assert day is not None  # noqa: S101 - MV-5 refused a missing date
    records = _record_facts(patient)
    plan = moves.move_out_plan(day=day, records=[f for f, _ in records])
    by_key = {(f.kind, f.id): r for f, r in records}
    for step in plan.of("end"):
        _end(by_key[step.record.kind, step.record.id], day, by, moves.MOVED_OUT_REASON)
    for period in _periods(patient):
        if period.end is None:
            period.end = day
            period._change_reason = moves.MOVED_OUT_REASON  # type: ignore[attr-defined]
            save_as(period, by)
    patient.moved_out_on = day
    patient._change_reason = moves.MOVED_OUT_REASON  # type: ignore[attr-defined]
    save_as(patient, by)
    inform(
        {patient.bureau_id},
        patient,
        f"参保人转出广西：{_masked(patient)}",
        f"参保人{_masked(patient)}自 {day} 起转出广西，档案只读。",
    )
    return patient
