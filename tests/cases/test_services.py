"""Services refuse with every violated rule and leave the database unchanged."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from cases import facts
from cases.models import Filing, Patient, Qualification, Selection, TransferLetter
from cases.services import PolicyRefusal
from cases.services.filings import filing_cancel, filing_change, filing_create
from cases.services.letters import letter_issue
from cases.services.patients import find_registered, name_pinyin, patient_register
from cases.services.qualifications import (
    qualification_apply,
    qualification_approve,
    qualification_cancel,
)
from cases.services.selections import selection_add, selection_end
from cases.settlement import settlement_check
from institutions.models import Disease, Region
from tests import factories

pytestmark = pytest.mark.django_db
D = dt.date


def snapshot():
    return {
        model.__name__: model.objects.count()
        for model in (Patient, Qualification, Selection, Filing, TransferLetter)
    } | {
        "history": sum(
            model.history.count()
            for model in (Patient, Qualification, Selection, Filing, TransferLetter)
        )
    }


def refused(call, *rule_ids):
    before = snapshot()
    with pytest.raises(PolicyRefusal) as excinfo:
        call()
    assert snapshot() == before, "a refusal must leave the database unchanged"
    for rule in rule_ids:
        assert rule in excinfo.value.rules
    return excinfo.value


@pytest.fixture
def patient(clerk):
    return factories.patient(clerk)


def test_register_fills_birth_date_sex_and_pinyin(clerk):
    registration = patient_register(
        by=clerk,
        cert_type="resident_id",
        cert_number="451202198001011233",
        name="单示例",
        insurance_type="390",
        today=D(2025, 3, 1),
    )
    patient = registration.patient
    assert patient.birth_date == D(1980, 1, 1)
    assert patient.sex == "M"
    assert patient.region_id == "451202"
    assert patient.bureau == clerk.bureau
    assert set(patient.name_initials.split("|")) == {"dsl", "ssl", "csl"}
    assert patient.history.first().history_user == clerk
    assert find_registered("resident_id", "451202198001011233") == patient


def test_register_refusals_change_nothing(clerk):
    refused(
        lambda: patient_register(
            by=clerk,
            cert_type="resident_id",
            cert_number="451202198001011234",
            name="错号",
            insurance_type="390",
        ),
        "ID-1",
    )
    refused(
        lambda: patient_register(
            by=clerk,
            cert_type="resident_id",
            cert_number="451202198001011233",
            name="错险种",
            insurance_type="999",
        ),
        "ID-5",
    )
    refused(
        lambda: patient_register(
            by=clerk,
            cert_type="resident_id",
            cert_number="451202198001011233",
            name="外县",
            insurance_type="390",
            region_code="450202",
        ),
        "ID-6",
    )


def test_unknown_prefix_is_a_warning_and_historical_one_is_accepted(clerk):
    historical = patient_register(
        by=clerk,
        cert_type="resident_id",
        cert_number="451281197001013459",
        name="宜州旧号",
        insurance_type="310",
    )
    assert historical.warnings == []
    unknown = factories.resident_id(prefix="459999")
    registration = patient_register(
        by=clerk,
        cert_type="resident_id",
        cert_number=unknown,
        name="未知前缀",
        insurance_type="310",
    )
    assert registration.patient.pk
    assert registration.warnings[0].startswith("ID-1")


def test_a_first_generation_number_is_recorded_converted(clerk, client_for):
    """ID-1: 15 digits become 18 ("19" before the year, the check character after); the
    conversion is said to the clerk and in the history, and the 15 digits are kept nowhere."""
    registration = patient_register(
        by=clerk,
        cert_type="resident_id",
        cert_number="451202800101123",
        name="韦旧证",
        insurance_type="390",
        today=dt.date(2025, 3, 1),
    )
    patient = registration.patient
    assert patient.cert_number == "451202198001011233"
    assert (patient.birth_date, patient.sex) == (dt.date(1980, 1, 1), "M")
    assert any("15位身份证号已按规则转换为18位" in w for w in registration.warnings)
    history = patient.history.get()
    assert "15位" in history.history_change_reason
    assert "451202800101123" not in history.history_change_reason
    assert find_registered("resident_id", "451202800101123") == patient
    # The clerk's search finds the patient by either number (posted, never in a URL).
    client = client_for(clerk)
    found = client.post("/patients/", {"q": "451202800101123"}, follow=True)
    assert "韦旧证" in found.content.decode()


def test_heteronym_surname_has_every_reading():
    full, initials = name_pinyin("曾示例")
    assert set(full.split("|")) == {"cengshili", "zengshili"}
    assert set(initials.split("|")) == {"csl", "zsl"}


def test_qualification_refusals_change_nothing(clerk, reviewer, patient):
    diagnosing = factories.institution("H45120200001", level=3)
    hypertension = Disease.objects.get(code="M03900")
    with facts.as_of(D(2025, 3, 1)):
        application = qualification_apply(
            by=clerk,
            patient=patient,
            disease=hypertension,
            applied_on=D(2025, 3, 1),
            diagnosis_institution=diagnosing,
            diagnosis_date=D(2025, 3, 1),
            diagnosis_doctor="李医生",
        )
        refused(
            lambda: qualification_apply(
                by=clerk,
                patient=patient,
                disease=hypertension,
                applied_on=D(2025, 3, 1),
                diagnosis_institution=diagnosing,
                diagnosis_date=D(2025, 3, 2),
                diagnosis_doctor="",
            ),
            "QL-2",
            "QL-5",
        )
        refused(
            lambda: qualification_approve(
                by=clerk, qualification=application, decided_on=D(2025, 3, 1)
            ),
            "QL-1",
        )
        approved = qualification_approve(
            by=reviewer, qualification=application, decided_on=D(2025, 3, 1)
        )
    assert approved.status == "approved"
    assert approved.valid_from == D(2025, 3, 1)
    assert approved.valid_until is None
    assert approved.history.first().history_user == reviewer


def test_database_refuses_a_self_review(clerk, patient):
    diagnosing = factories.institution("H45120200001", level=3)
    q = Qualification(
        patient=patient,
        disease=Disease.objects.get(code="M03900"),
        applied_on=D(2025, 3, 1),
        diagnosis_institution=diagnosing,
        diagnosis_date=D(2025, 3, 1),
        diagnosis_doctor="x",
        recorded_by=clerk,
        reviewed_by=clerk,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        q.save()


def test_database_refuses_a_bad_resident_id(clerk):
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.create(
            cert_type="resident_id",
            cert_number="451202198001011234",
            name="x",
            insurance_type="390",
            region_id="451202",
            bureau=clerk.bureau,
        )
    Patient.objects.create(
        cert_type="passport",
        cert_number="E1234",
        name="x",
        insurance_type="390",
        region_id="451202",
        bureau=clerk.bureau,
    )


def test_selection_slots_and_refusals(clerk, reviewer, patient):
    factories.qualification(clerk, reviewer, patient)
    hospitals = [
        factories.institution(f"H4512020000{n}", networked=("M03900",)) for n in range(1, 5)
    ]
    with facts.as_of(D(2025, 3, 1)):
        slots = [
            selection_add(
                by=clerk, patient=patient, institution=h, start=D(2025, 3, 1)
            ).selection.slot
            for h in hospitals[:3]
        ]
        assert slots == [1, 2, 3]
        refused(
            lambda: selection_add(
                by=clerk, patient=patient, institution=hospitals[3], start=D(2025, 3, 1)
            ),
            "SL-1",
        )
        guangzhou = factories.institution("H44010600001", cross_province=("M03900",))
        refused(
            lambda: selection_add(
                by=clerk, patient=patient, institution=guangzhou, start=D(2025, 3, 1)
            ),
            "SL-1",
            "SL-4",
        )
        first = Selection.objects.get(patient=patient, slot=1)
        refused(
            lambda: selection_end(by=clerk, selection=first, end=D(2025, 4, 1), reason=""), "SL-6"
        )
        selection_end(by=clerk, selection=first, end=D(2025, 4, 1), reason="变更")
        fourth = selection_add(
            by=clerk, patient=patient, institution=hospitals[3], start=D(2025, 4, 1)
        )
    assert fourth.selection.slot == 1
    assert fourth.selection.scope == "in_city"


def test_database_refuses_a_fourth_overlapping_slot(clerk, patient):
    hospitals = [factories.institution(f"H4512020000{n}") for n in range(1, 5)]
    for slot, hospital in enumerate(hospitals[:3], start=1):
        Selection.objects.create(
            patient=patient,
            institution=hospital,
            slot=slot,
            start=D(2025, 1, 1),
            scope="in_city",
            created_by=clerk,
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Selection.objects.create(
            patient=patient,
            institution=hospitals[3],
            slot=4,
            start=D(2025, 1, 1),
            scope="in_city",
            created_by=clerk,
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Selection.objects.create(
            patient=patient,
            institution=hospitals[3],
            slot=1,
            start=D(2024, 6, 1),
            end=D(2025, 1, 2),
            scope="in_city",
            created_by=clerk,
        )


def test_in_region_selection_gets_the_sl_5_notice(clerk, reviewer, patient):
    nanning = factories.institution("H45010300001")
    result = selection_add(by=clerk, patient=patient, institution=nanning, start=D(2025, 3, 1))
    assert result.selection.scope == "in_region"
    assert result.notices[0].startswith("SL-5")


def test_filing_lifecycle_and_refusals(clerk, patient):
    guangzhou = Region.objects.get(code="440100")
    refused(
        lambda: filing_create(
            by=clerk,
            patient=patient,
            type="temporary",
            subtype="other",
            destination=Region.objects.get(code="450100"),
            start=D(2025, 3, 1),
            materials=["identity"],
        ),
        "FL-1",
    )
    with facts.as_of(D(2025, 3, 1)):
        filing = filing_create(
            by=clerk,
            patient=patient,
            type="temporary",
            subtype="other",
            destination=guangzhou,
            start=D(2025, 3, 1),
            materials=["identity"],
        )
    assert filing.end == D(2025, 9, 1)
    assert filing.filed_on == D(2025, 3, 1)
    refused(
        lambda: filing_create(
            by=clerk,
            patient=patient,
            type="temporary",
            subtype="emergency",
            destination=guangzhou,
            start=D(2025, 5, 1),
            materials=["identity", "emergency_certificate"],
        ),
        "FL-8",
    )
    filing_cancel(by=clerk, filing=filing, day=D(2025, 4, 1))
    filing.refresh_from_db()
    assert (filing.status, filing.end) == ("cancelled", D(2025, 4, 1))
    refused(lambda: filing_cancel(by=clerk, filing=filing, day=D(2025, 4, 2)), "FL-10")


def test_long_term_change_after_the_lock(clerk, patient):
    with facts.as_of(D(2025, 1, 15)):
        filing = filing_create(
            by=clerk,
            patient=patient,
            type="long_term",
            subtype="retired_resettled",
            destination=Region.objects.get(code="440100"),
            start=D(2025, 1, 15),
            materials=["identity", "household_register"],
        )
    shenzhen = Region.objects.get(code="440300")
    refused(
        lambda: filing_change(
            by=clerk,
            filing=filing,
            day=D(2025, 7, 14),
            destination=shenzhen,
            materials=["identity", "household_register"],
        ),
        "FL-4",
    )
    new = filing_change(
        by=clerk,
        filing=filing,
        day=D(2025, 7, 15),
        destination=shenzhen,
        materials=["identity", "household_register"],
    )
    filing.refresh_from_db()
    assert filing.status == "changed"
    assert filing.replaced_by == new
    assert new.start == D(2025, 7, 15)


def test_letter_and_settlement_in_a_handful_of_queries(
    clerk, reviewer, patient, django_assert_max_num_queries
):
    factories.qualification(clerk, reviewer, patient)
    issuer = factories.institution("H45120200001", level=3, transfer_issuer=True)
    receiver = factories.institution("H44010600001", level=3, cross_province=("M03900",))
    disease = Disease.objects.get(code="M03900")
    refused(
        lambda: letter_issue(
            by=clerk,
            patient=patient,
            disease=disease,
            issuer=issuer,
            receiver=issuer,
            reason="technical",
            issued_on=D(2025, 3, 1),
        ),
        "TL-2",
    )
    letter = letter_issue(
        by=clerk,
        patient=patient,
        disease=disease,
        issuer=issuer,
        receiver=receiver,
        reason="technical",
        issued_on=D(2025, 3, 1),
    )
    assert letter.end == D(2025, 9, 1)
    assert letter.serial.startswith("ZZ45120220250301")
    selection_add(by=clerk, patient=patient, institution=receiver, start=D(2025, 3, 2))
    with django_assert_max_num_queries(8):
        answer = settlement_check(
            patient=patient, institution=receiver, disease=disease, day=D(2025, 3, 2)
        )
    assert answer.outcome == "direct"


def test_cancelled_qualification_ends_on_the_day(clerk, reviewer, patient):
    q = factories.qualification(clerk, reviewer, patient)
    refused(
        lambda: qualification_cancel(by=clerk, qualification=q, day=D(2025, 5, 1), reason=""),
        "QL-1",
    )
    qualification_cancel(by=clerk, qualification=q, day=D(2025, 5, 1), reason="参保人死亡")
    q.refresh_from_db()
    assert (q.status, q.valid_until) == ("cancelled", D(2025, 5, 1))


def test_model_clean_calls_the_rules(clerk):
    from django.core.exceptions import ValidationError

    bad = Patient(
        cert_type="resident_id",
        cert_number="451202198001011234",
        name="x",
        insurance_type="390",
        region_id="451202",
        bureau=clerk.bureau,
    )
    with pytest.raises(ValidationError) as excinfo:
        bad.full_clean()
    assert "ID-1" in str(excinfo.value.message_dict["cert_number"])
    letter = TransferLetter(reason="other", reason_text="")
    with pytest.raises(ValidationError) as excinfo:
        letter.clean()
    assert "TL-2" in str(excinfo.value)
