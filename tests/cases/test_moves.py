"""Patients who move (cases.services.moves, cases.rules.moves): MV-1..MV-6 on PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from cases import access, facts, rules
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
from cases.reminders import remind_unanswered_moves
from cases.rules import moves
from cases.services import PolicyRefusal
from cases.services.filings import filing_create
from cases.services.moves import move_accept, move_out, move_refuse, move_request, preview
from cases.services.qualifications import qualification_apply
from cases.services.selections import selection_add
from institutions.models import Disease, Institution, Region
from tests import factories
from tests.conftest import make_bureau, make_user

pytestmark = pytest.mark.django_db
TODAY = dt.date(2025, 6, 10)
EFFECTIVE = dt.date(2025, 6, 1)


@pytest.fixture(autouse=True)
def _today():
    with facts.as_of(TODAY):
        yield


@pytest.fixture
def case(clerk, reviewer):
    """A 金城江区 patient with an approval, an in-city selection, a submitted application,
    a temporary filing to Guangzhou and a transfer letter there."""
    home = factories.institution(
        "H45120200001", level=3, transfer_issuer=True, networked=("M03900",)
    )
    factories.institution("H44010600001", level=3, cross_province=("M03900",))
    patient = factories.patient(clerk, day=dt.date(2025, 1, 2))
    approved = factories.qualification(clerk, reviewer, patient, day=dt.date(2025, 1, 5))
    with facts.as_of(dt.date(2025, 1, 10)):
        selection = selection_add(
            by=clerk, patient=patient, institution=home, start=dt.date(2025, 1, 10)
        ).selection
        submitted = qualification_apply(
            by=clerk,
            patient=patient,
            disease=Disease.objects.get(code="M00201"),
            applied_on=dt.date(2025, 1, 10),
            diagnosis_institution=home,
            diagnosis_date=dt.date(2025, 1, 9),
            diagnosis_doctor="李医生",
        )
    with facts.as_of(dt.date(2025, 5, 1)):
        filing = filing_create(
            by=clerk,
            patient=patient,
            type="temporary",
            subtype="other",
            destination=Region.objects.get(code="440100"),
            start=dt.date(2025, 5, 1),
            materials=["identity"],
        )
    return {
        "patient": patient,
        "approved": approved,
        "submitted": submitted,
        "selection": selection,
        "filing": filing,
    }


@pytest.fixture
def liuzhou_clerk(other_bureau):
    return make_user("liuzhou_clerk", "clerk", other_bureau)


@pytest.fixture
def yizhou_clerk(regions):
    return make_user("yizhou_clerk", "clerk", make_bureau("451203"))


def request(by, patient, county, effective=EFFECTIVE, voucher="GX2025060001"):
    return move_request(
        by=by,
        patient=patient,
        region=Region.objects.get(code=county),
        effective=effective,
        voucher=voucher,
    )


def test_a_request_tells_both_bureaus_and_shows_only_a_masked_name(
    case, clerk, reviewer, liuzhou_clerk
):
    move = request(liuzhou_clerk, case["patient"], "450202")
    assert move.status == MoveRequest.Status.PENDING
    assert (move.from_bureau, move.to_bureau) == (clerk.bureau, liuzhou_clerk.bureau)
    told = Notification.objects.filter(title__startswith="转入申请")
    assert {n.user for n in told} == {clerk, reviewer, liuzhou_clerk}
    assert all("韦示例" not in n.title + n.body for n in told)  # 韦** only
    # Until it is answered, the requester sees nothing of the case (MV-1).
    assert not access.patients(liuzhou_clerk).filter(pk=case["patient"].pk).exists()


@pytest.mark.parametrize(
    ("county", "effective", "voucher", "rule"),
    [
        ("451202", EFFECTIVE, "GX1", "MV-1"),  # a county the requester does not serve
        ("450202", EFFECTIVE, " ", "MV-1"),  # no voucher
        ("450202", TODAY + dt.timedelta(days=1), "GX1", "MV-2"),  # in the future
    ],
)
def test_a_request_against_mv_1_or_mv_2_is_refused_and_changes_nothing(
    case, liuzhou_clerk, county, effective, voucher, rule
):
    with pytest.raises(PolicyRefusal) as refused:
        request(liuzhou_clerk, case["patient"], county, effective, voucher)
    assert rule in refused.value.rules
    assert not MoveRequest.objects.exists()
    assert not Notification.objects.exists()


def test_one_pending_request_per_patient(case, liuzhou_clerk, yizhou_clerk):
    request(liuzhou_clerk, case["patient"], "450202")
    with pytest.raises(PolicyRefusal) as refused:
        request(yizhou_clerk, case["patient"], "451203")
    assert refused.value.rules == ["MV-2"]


def test_within_a_prefecture_every_record_carries_over(case, clerk, yizhou_clerk):
    """MV-3: 金城江区 → 宜州区, both 河池."""
    move = request(yizhou_clerk, case["patient"], "451203")
    assert {s.action for s in preview(move).steps} == {"carry"}
    move_accept(by=clerk, move=move, day=TODAY)
    patient = Patient.objects.get()
    assert (patient.region_id, patient.bureau, patient.insured_since) == (
        "451203",
        yizhou_clerk.bureau,
        EFFECTIVE,
    )
    filing = Filing.objects.get()
    assert (filing.status, filing.end) == ("active", case["filing"].end)
    # The records follow the patient's bureau (the trigger of migration 0005).
    assert Filing.objects.get().bureau == yizhou_clerk.bureau
    assert Qualification.objects.filter(bureau=yizhou_clerk.bureau).count() == 2


def test_to_another_prefecture_records_carry_end_or_change_scope_from_the_date(
    case, clerk, reviewer, liuzhou_clerk
):
    """MV-4: 金城江区 → 柳州市城中区."""
    Reminder.objects.create(
        filing=case["filing"],
        patient=case["patient"],
        bureau=clerk.bureau,
        stage="30",
        due_on=TODAY,
        record_end=case["filing"].end,
    )
    move = request(liuzhou_clerk, case["patient"], "450202")
    plan = {(s.record.kind, s.record.id): s.action for s in preview(move).steps}
    assert plan == {
        ("qualification", case["approved"].pk): "carry",
        ("qualification", case["submitted"].pk): "review",
        ("selection", case["selection"].pk): "rescope",
        ("filing", case["filing"].pk): "end",
    }
    move_accept(by=clerk, move=move, day=TODAY)
    approved = Qualification.objects.get(pk=case["approved"].pk)
    assert (approved.status, approved.valid_until) == ("approved", None)
    assert Qualification.objects.get(pk=case["submitted"].pk).status == "submitted"
    filing = Filing.objects.get()
    assert (filing.status, filing.end, filing.cancel_reason) == (
        "cancelled",
        EFFECTIVE,
        f"{moves.MOVE_REASON}（转入申请 #{move.pk}）",
    )
    # The selection was in-city for 河池; from the date it is in-region for 柳州.
    before, after = Selection.objects.order_by("start")
    assert (before.scope, before.end, after.scope, after.start, after.slot) == (
        "in_city",
        EFFECTIVE,
        "in_region",
        EFFECTIVE,
        before.slot,
    )
    periods = list(InsuredPeriod.objects.order_by("id").values_list("region_id", "start", "end"))
    assert periods == [("451202", None, EFFECTIVE), ("450202", EFFECTIVE, None)]
    # The history keeps both bureaus' entries and names the move and the user.
    history = filing.history.order_by("history_id")
    assert [h.history_user for h in history] == [clerk, clerk]
    assert history.last().history_change_reason == f"{moves.MOVE_REASON}（转入申请 #{move.pk}）"
    patient_history = Patient.objects.get().history.order_by("history_id").last()
    assert patient_history.bureau_id == liuzhou_clerk.bureau_id
    assert "金城江区" in patient_history.history_change_reason
    assert "城中区" in patient_history.history_change_reason
    # The old bureau sees nothing any more, reminders included; the new one sees the case.
    assert not access.records(clerk, Reminder.objects.all()).exists()
    assert not access.patients(clerk).filter(pk=case["patient"].pk).exists()
    assert access.patients(liuzhou_clerk).filter(pk=case["patient"].pk).exists()
    # Both bureaus are told, the new one that a filing needs doing again.
    accepted = Notification.objects.filter(title__startswith="转入申请已接受")
    assert {n.user for n in accepted} == {clerk, reviewer, liuzhou_clerk}
    assert "重新办理" in accepted.first().body


def test_mv_6_the_prefecture_of_a_date_is_the_one_in_force_then(case, clerk, liuzhou_clerk):
    move_accept(by=clerk, move=request(liuzhou_clerk, case["patient"], "450202"), day=TODAY)
    patient = Patient.objects.get()
    assert facts.patient_prefecture(patient, dt.date(2025, 5, 31)) == "451200"
    assert facts.patient_prefecture(patient, EFFECTIVE) == "450200"
    assert rules.insured_on(facts.insured_spans(patient), dt.date(2024, 1, 1)).county == "451202"


def test_a_refusal_needs_a_reason_and_changes_nothing_else(case, clerk, liuzhou_clerk):
    move = request(liuzhou_clerk, case["patient"], "450202")
    with pytest.raises(PolicyRefusal) as refused:
        move_refuse(by=clerk, move=move, reason=" ")
    assert refused.value.rules == ["MV-1"]
    move_refuse(by=clerk, move=move, reason="凭证号与参保人不符")
    move.refresh_from_db()
    assert (move.status, move.answered_by, move.refusal_reason) == (
        "refused",
        clerk,
        "凭证号与参保人不符",
    )
    assert Patient.objects.get().bureau == clerk.bureau
    with pytest.raises(PolicyRefusal):
        move_accept(by=clerk, move=move, day=TODAY)


def test_moving_out_of_guangxi_ends_every_record_and_makes_the_patient_read_only(case, clerk):
    """MV-5."""
    move_out(by=clerk, patient=case["patient"], day=EFFECTIVE)
    patient = Patient.objects.get()
    assert patient.moved_out_on == EFFECTIVE
    assert Selection.objects.get().end == EFFECTIVE
    assert Filing.objects.get().end == EFFECTIVE
    approved = Qualification.objects.get(pk=case["approved"].pk)
    assert (approved.status, approved.valid_until) == ("cancelled", EFFECTIVE)
    assert Qualification.objects.get(pk=case["submitted"].pk).status == "rejected"
    assert InsuredPeriod.objects.get().end == EFFECTIVE
    home = Institution.objects.get(code="H45120200001")
    with pytest.raises(PolicyRefusal) as refused:
        selection_add(by=clerk, patient=patient, institution=home, start=TODAY)
    assert "MV-5" in refused.value.rules
    with pytest.raises(PolicyRefusal) as again:
        move_out(by=clerk, patient=patient, day=TODAY)
    assert again.value.rules == ["MV-5"]


def test_a_patient_who_moved_out_can_be_requested_back_in(case, clerk, liuzhou_clerk):
    move_out(by=clerk, patient=case["patient"], day=EFFECTIVE)
    move = request(liuzhou_clerk, case["patient"], "450202", effective=TODAY)
    move_accept(by=clerk, move=move, day=TODAY)
    patient = Patient.objects.get()
    assert (patient.bureau, patient.moved_out_on) == (liuzhou_clerk.bureau, None)
    periods = list(InsuredPeriod.objects.order_by("id").values_list("region_id", "start", "end"))
    assert periods == [("451202", None, EFFECTIVE), ("450202", TODAY, None)]


def test_an_unanswered_request_is_reminded_to_the_owning_bureau_once(
    case, clerk, reviewer, liuzhou_clerk
):
    move = request(liuzhou_clerk, case["patient"], "450202")
    assert remind_unanswered_moves(TODAY + dt.timedelta(days=14)) == 0
    assert remind_unanswered_moves(TODAY + dt.timedelta(days=15)) == 1
    assert remind_unanswered_moves(TODAY + dt.timedelta(days=16)) == 0
    reminded = Notification.objects.filter(title__startswith="转入申请待答复")
    assert {n.user for n in reminded} == {clerk, reviewer}
    move.refresh_from_db()
    assert move.reminded_on == TODAY + dt.timedelta(days=15)


def test_letters_end_on_the_date_of_a_move_across_prefectures(case, clerk, reviewer, liuzhou_clerk):
    from cases.services.letters import letter_issue

    home = Institution.objects.get(code="H45120200001")
    guangzhou = Institution.objects.get(code="H44010600001")
    with facts.as_of(dt.date(2025, 5, 20)):
        letter = letter_issue(
            by=clerk,
            patient=case["patient"],
            disease=Disease.objects.get(code="M03900"),
            issuer=home,
            receiver=guangzhou,
            reason="technical",
            issued_on=dt.date(2025, 5, 20),
        )
    move_accept(by=clerk, move=request(liuzhou_clerk, case["patient"], "450202"), day=TODAY)
    assert TransferLetter.objects.get(pk=letter.pk).end == EFFECTIVE


def test_a_letter_dated_before_a_move_is_numbered_for_the_county_of_its_date(
    case, clerk, reviewer, liuzhou_clerk
):
    """TL-4's serial names the insured county on the issue date (MV-6)."""
    from cases.services.letters import letter_issue

    move_accept(by=clerk, move=request(liuzhou_clerk, case["patient"], "450202"), day=TODAY)
    liuzhou = factories.institution("H45020200001", level=3, transfer_issuer=True)
    hechi = Institution.objects.get(code="H45120200001")
    guangzhou = Institution.objects.get(code="H44010600001")
    patient = Patient.objects.get()
    issued = {}
    for day, issuer in ((dt.date(2025, 5, 20), hechi), (dt.date(2025, 6, 5), liuzhou)):
        with facts.as_of(TODAY):
            issued[day] = letter_issue(
                by=liuzhou_clerk,
                patient=patient,
                disease=Disease.objects.get(code="M03900"),
                issuer=issuer,
                receiver=guangzhou,
                reason="technical",
                issued_on=day,
            ).serial
    assert issued[dt.date(2025, 5, 20)].startswith("ZZ45120220250520")
    assert issued[dt.date(2025, 6, 5)].startswith("ZZ45020220250605")


def test_only_the_owning_bureau_answers_or_moves_out_in_the_service_too(
    case, yizhou_clerk, liuzhou_clerk
):
    """MV-1/MV-5 are the services', not only the pages': another bureau is refused."""
    move = request(liuzhou_clerk, case["patient"], "450202")
    for answer in (
        lambda: move_accept(by=liuzhou_clerk, move=move, day=TODAY),
        lambda: move_refuse(by=yizhou_clerk, move=move, reason="x", day=TODAY),
        lambda: move_out(by=yizhou_clerk, patient=case["patient"], day=EFFECTIVE),
    ):
        with pytest.raises(PolicyRefusal) as refused:
            answer()
        assert refused.value.rules == ["MV-1"]
    assert MoveRequest.objects.get().status == "pending"
    assert Patient.objects.get().moved_out_on is None
