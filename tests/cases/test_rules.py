"""The pure rules, one group per rule family; no database."""

from __future__ import annotations

import datetime as dt

import pytest

from cases import rules
from cases.rules import (
    FilingFacts,
    FilingRequest,
    InstitutionFacts,
    Period,
    QualificationFacts,
    RegionFacts,
    SelectionFacts,
)
from cases.rules.parameters import defaults

D = dt.date
PARAMS = defaults(D(2025, 3, 1))

HECHI = "451200"
JINCHENGJIANG = InstitutionFacts(
    "H45120200001",
    "451202",
    HECHI,
    3,
    True,
    transfer_issuer=True,
    networked_in_region=frozenset({"M03900"}),
)
NANNING = InstitutionFacts(
    "H45010300001", "450103", "450100", 3, True, networked_in_region=frozenset({"M03900"})
)
GUANGZHOU = InstitutionFacts(
    "H44010600001", "440106", "440100", 3, True, networked_cross_province=frozenset({"M03900"})
)
BEIJING = InstitutionFacts(
    "H11010500001", "110105", "110000", 3, True, networked_cross_province=frozenset({"M03900"})
)
HYPERTENSION = rules.DiseaseFacts("M03900", "高血压病", cross_province=True)


# --- dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (D(2025, 8, 31), 6, D(2026, 2, 28)),
        (D(2023, 8, 31), 6, D(2024, 2, 29)),
        (D(2025, 1, 31), 1, D(2025, 2, 28)),
        (D(2025, 3, 1), 6, D(2025, 9, 1)),
        (D(2025, 12, 15), 1, D(2026, 1, 15)),
        (D(2025, 7, 15), -6, D(2025, 1, 15)),
    ],
)
def test_calendar_months_clip_to_month_end(day, months, expected):
    assert rules.add_months(day, months) == expected


def test_periods_are_half_open():
    period = Period(D(2025, 3, 1), D(2025, 9, 1))
    assert period.covers(D(2025, 3, 1))
    assert period.covers(D(2025, 8, 31))
    assert not period.covers(D(2025, 9, 1))
    assert not period.overlaps(Period(D(2025, 9, 1)))
    assert period.overlaps(Period(D(2025, 8, 31)))
    assert not Period(D(2025, 3, 1), D(2025, 3, 1)).overlaps(period)


# --- ID-1 -------------------------------------------------------------------------------------


def test_resident_id_is_normalised_and_checked():
    number = rules.normalize_cert_number(" ４５０２０３１９５５１１１１７８９ｘ ")
    assert number == "45020319551111789X"
    assert rules.check_resident_id(number, D(2025, 3, 1)) == []
    assert rules.id_birth_date(number) == D(1955, 11, 11)
    assert rules.id_sex("451202198001011233") == "M"


@pytest.mark.parametrize(
    "number",
    ["451202198001011234", "45120219800101123", "4512021980010112331", "451202198002301239"],
)
def test_bad_resident_ids_cite_id_1(number):
    assert rules.rules_of(rules.check_resident_id(number, D(2025, 3, 1))) != []
    assert set(rules.rules_of(rules.check_resident_id(number, D(2025, 3, 1)))) == {"ID-1"}


def test_birth_date_after_today_is_refused():
    number = "45120220300101" + "123"
    number += rules.resident_id_check_char(number)
    assert rules.rules_of(rules.check_resident_id(number, D(2025, 3, 1))) == ["ID-1"]


def test_unknown_prefix_is_only_a_warning():
    assert rules.id_prefix_warning("451281197001013459", known_prefix=False).startswith("ID-1")
    assert rules.id_prefix_warning("451202198001011233", known_prefix=True) is None


def test_other_certificates_skip_the_resident_id_check():
    assert rules.check_certificate("passport", "E12345678", D(2025, 3, 1)) == []
    assert rules.rules_of(rules.check_certificate("passport", "E1234<5678>", D(2025, 3, 1))) == [
        "ID-1"
    ]


# --- ID-2..6 ----------------------------------------------------------------------------------


def test_division_levels():
    assert rules.division_level("450000") == 1
    assert rules.division_level("451200") == 2
    assert rules.division_level("451202") == 3
    assert rules.division_level("4512") is None


def test_institution_and_disease_codes():
    assert rules.check_institution_code("H45120200001", "451202") == []
    assert rules.rules_of(rules.check_institution_code("H45120200001", "450202")) == ["ID-3"]
    assert rules.rules_of(rules.check_institution_code("X45120200001", None)) == ["ID-3"]
    assert rules.check_disease_code("M03900") == []
    assert rules.rules_of(rules.check_disease_code("M3900")) == ["ID-4"]


def test_patient_insurance_and_county():
    ok = dict(
        name="韦示例",
        insurance_type="390",
        region_code="451202",
        region_is_active_county=True,
        bureau_county="451202",
    )
    assert rules.check_patient(**ok) == []
    assert rules.rules_of(rules.check_patient(**{**ok, "insurance_type": "320"})) == ["ID-5"]
    assert rules.rules_of(rules.check_patient(**{**ok, "region_code": "440106"})) == ["ID-6"]
    assert rules.rules_of(rules.check_patient(**{**ok, "region_is_active_county": False})) == [
        "ID-6"
    ]
    assert rules.rules_of(rules.check_patient(**{**ok, "bureau_county": "450202"})) == ["ID-6"]
    assert rules.rules_of(rules.check_patient(**{**ok, "region_code": None})) == ["ID-2", "ID-6"]


# --- QL ---------------------------------------------------------------------------------------


def approved(disease="M03900", start=D(2024, 1, 10), end=None, id=1):
    return QualificationFacts(id, disease, "approved", start, start, end)


def application(**overrides):
    values = dict(
        disease=HYPERTENSION,
        insurance_type="390",
        applied_on=D(2025, 3, 1),
        diagnosis_date=D(2025, 2, 1),
        diagnosis_institution="H45120200001",
        diagnosis_doctor="李医生",
        existing=[],
        params=PARAMS,
        today=D(2025, 3, 1),
    )
    return rules.check_application(**{**values, **overrides})


def test_a_complete_application_passes():
    assert application() == []


def test_ql_2_one_submitted_application_per_disease():
    submitted = QualificationFacts(1, "M03900", "submitted", D(2025, 2, 1))
    assert rules.rules_of(application(existing=[submitted])) == ["QL-2"]


def test_ql_2_renewal_window():
    valid = approved(end=D(2025, 4, 30))
    assert rules.rules_of(application(applied_on=D(2025, 2, 28), existing=[valid])) == ["QL-2"]
    assert application(applied_on=D(2025, 3, 1), existing=[valid]) == []
    assert rules.renewal_target("M03900", D(2025, 3, 1), [valid], PARAMS) == valid
    assert rules.rules_of(application(existing=[approved()])) == ["QL-2"]


def test_ql_3_validity():
    months = rules.DiseaseFacts("M00201", "乙肝", validity="months", validity_months=12)
    year = rules.DiseaseFacts("M06700", "银屑病", validity="calendar_year")
    assert rules.qualification_validity(HYPERTENSION, D(2025, 3, 1)) is None
    assert rules.qualification_validity(months, D(2024, 2, 29)) == D(2025, 2, 28)
    assert rules.qualification_validity(year, D(2024, 12, 31)) == D(2025, 1, 1)


def test_ql_2_renewal_starts_on_the_old_end():
    months = rules.DiseaseFacts("M00201", "乙肝", validity="months", validity_months=12)
    old = approved("M00201", D(2024, 1, 10), D(2025, 1, 10))
    period = rules.approval_period(disease=months, decided_on=D(2024, 11, 20), renewed=old)
    assert period == Period(D(2025, 1, 10), D(2026, 1, 10))
    late = rules.approval_period(disease=months, decided_on=D(2025, 2, 1), renewed=old)
    assert late.start == D(2025, 2, 1)


def test_ql_1_four_eyes_and_order():
    ok = dict(
        status="submitted",
        applied_on=D(2025, 3, 1),
        decided_on=D(2025, 3, 2),
        recorded_by=1,
        reviewer=2,
        today=D(2025, 3, 2),
    )
    assert rules.check_decision(**ok) == []
    assert rules.rules_of(rules.check_decision(**{**ok, "decided_on": D(2026, 3, 2)})) == ["QL-1"]
    assert rules.rules_of(rules.check_decision(**{**ok, "reviewer": 1})) == ["QL-1"]
    assert rules.rules_of(rules.check_decision(**{**ok, "status": "approved"})) == ["QL-1"]
    assert rules.rules_of(rules.check_decision(**{**ok, "decided_on": D(2025, 2, 28)})) == ["QL-1"]


def test_ql_4_exclusive_diseases():
    haemo = rules.DiseaseFacts("M07804", "腹透", exclusive_with=frozenset({"M07803"}))
    existing = [approved("M07803", D(2024, 6, 1))]
    found = rules.check_approval(
        disease=haemo, qualification_id=9, period=Period(D(2025, 3, 2)), existing=existing
    )
    assert rules.rules_of(found) == ["QL-4"]


def test_ql_5_evidence():
    assert rules.rules_of(application(diagnosis_date=D(2025, 3, 2))) == ["QL-5"]
    assert rules.rules_of(application(diagnosis_doctor=" ")) == ["QL-5"]
    assert rules.rules_of(application(diagnosis_institution=None)) == ["QL-5"]


# --- SL ---------------------------------------------------------------------------------------


def selection(institution, slot, start=D(2025, 1, 1), end=None, id=None):
    return SelectionFacts(id or slot, institution, slot, Period(start, end))


def check_selection(institution, existing=(), bases=(), start=D(2025, 3, 1)):
    return rules.check_selection(
        patient_prefecture=HECHI,
        institution=institution,
        start=start,
        existing=list(existing),
        bases=list(bases),
        params=PARAMS,
    )


def test_sl_3_scope_is_computed():
    assert rules.selection_scope(HECHI, JINCHENGJIANG) == rules.SelectionScope.IN_CITY
    assert rules.selection_scope(HECHI, NANNING) == rules.SelectionScope.IN_REGION
    assert rules.selection_scope(HECHI, GUANGZHOU) == rules.SelectionScope.CROSS_PROVINCE


def test_sl_1_fourth_selection_is_refused():
    existing = [selection("H1", 1), selection("H2", 2), selection("H3", 3)]
    check = check_selection(JINCHENGJIANG, existing)
    assert rules.rules_of(check.violations) == ["SL-1"]


def test_sl_1_is_a_count_per_date_not_three_fixed_slots():
    """Slots fragmented by ended selections: 1 Jan–Mar, 2 Apr–, 3 Jan–, so two are active
    on every day. A selection from January is allowed (the count is 2 on every day of its
    period), although every slot number is held on some day of it; its number is 4."""
    existing = [
        selection("H1", 1, start=D(2025, 1, 1), end=D(2025, 4, 1)),
        selection("H2", 2, start=D(2025, 4, 1)),
        selection("H3", 3, start=D(2025, 1, 1)),
    ]
    check = check_selection(JINCHENGJIANG, existing, start=D(2025, 1, 1))
    assert check.violations == []
    assert check.slot == 4
    # The same records entered in another order get the same answer.
    for order in ([2, 0, 1], [1, 2, 0]):
        shuffled = [existing[i] for i in order]
        assert check_selection(JINCHENGJIANG, shuffled, start=D(2025, 1, 1)).violations == []
    # A third at once on any day of the period is refused.
    crowded = [*existing, selection("H4", 4, start=D(2025, 6, 1))]
    found = check_selection(JINCHENGJIANG, crowded, start=D(2025, 1, 1))
    assert rules.rules_of(found.violations) == ["SL-1"]
    assert check_selection(JINCHENGJIANG, crowded, start=D(2024, 1, 1)).violations != []


def test_sl_1_most_active_counts_only_the_new_period():
    existing = [
        selection("H1", 1, start=D(2025, 1, 1), end=D(2025, 2, 1)),
        selection("H2", 2, start=D(2025, 1, 1), end=D(2025, 2, 1)),
        selection("H3", 3, start=D(2025, 1, 1), end=D(2025, 2, 1)),
    ]
    assert rules.most_active(existing, Period(D(2025, 2, 1))) == 0
    assert rules.most_active(existing, Period(D(2024, 12, 1), D(2025, 1, 1))) == 0
    assert rules.most_active(existing, Period(D(2024, 12, 1))) == 3


def test_sl_1_ended_selection_frees_its_slot_from_its_end():
    existing = [selection("H1", 1, end=D(2025, 3, 1)), selection("H2", 2), selection("H3", 3)]
    assert check_selection(JINCHENGJIANG, existing, start=D(2025, 3, 1)).slot == 1
    assert rules.rules_of(
        check_selection(JINCHENGJIANG, existing, start=D(2025, 2, 28)).violations
    ) == ["SL-1"]


def test_sl_2_institution_designated_on_start():
    closed = InstitutionFacts("H45120200009", "451202", HECHI, 2, False)
    assert rules.rules_of(check_selection(closed).violations) == ["SL-2"]


def test_sl_4_cross_province_needs_a_covering_basis():
    assert rules.rules_of(check_selection(GUANGZHOU).violations) == ["SL-4"]
    filing = FilingFacts(1, "filing", "temporary", "440100", Period(D(2025, 3, 1), D(2025, 9, 1)))
    assert check_selection(GUANGZHOU, bases=[filing]).violations == []
    elsewhere = FilingFacts(
        2, "filing", "temporary", "440300", Period(D(2025, 3, 1), D(2025, 9, 1))
    )
    assert rules.rules_of(check_selection(GUANGZHOU, bases=[elsewhere]).violations) == ["SL-4"]
    municipality = FilingFacts(3, "filing", "long_term", "110000", Period(D(2025, 1, 1)))
    assert check_selection(BEIJING, bases=[municipality]).basis == municipality


def test_sl_5_in_region_selection_gets_an_advisory():
    check = check_selection(NANNING)
    assert check.violations == []
    assert check.notices[0].startswith("SL-5")


def test_sl_6_same_institution_twice_and_ending():
    assert rules.rules_of(
        check_selection(JINCHENGJIANG, [selection("H45120200001", 1)]).violations
    ) == ["SL-6"]
    assert rules.rules_of(
        rules.check_selection_end(
            start=D(2025, 3, 1), current_end=None, end=D(2025, 2, 28), reason="x"
        )
    ) == ["SL-6"]
    assert rules.rules_of(
        rules.check_selection_end(
            start=D(2025, 3, 1), current_end=D(2025, 4, 1), end=D(2025, 5, 1), reason="x"
        )
    ) == ["SL-6"]
    assert rules.rules_of(
        rules.check_selection_end(
            start=D(2025, 3, 1), current_end=None, end=D(2025, 5, 1), reason=""
        )
    ) == ["SL-6"]


# --- FL ---------------------------------------------------------------------------------------

GUANGZHOU_CITY = RegionFacts("440100", 2)


def filing(**overrides):
    values = dict(
        type="temporary",
        subtype="other",
        destination=GUANGZHOU_CITY,
        start=D(2025, 8, 31),
        end=None,
        filed_on=D(2025, 8, 31),
        channel="window",
        agent=rules.Agent(),
        materials=frozenset({"identity"}),
    )
    return FilingRequest(**{**values, **overrides})


def check_filing(request, existing=()):
    return rules.check_filing(request, existing=list(existing), params=PARAMS)


@pytest.mark.parametrize(
    ("destination", "ok"),
    [
        (RegionFacts("440100", 2), True),
        (RegionFacts("110000", 1), True),
        (RegionFacts("440106", 3), False),
        (RegionFacts("440000", 1), False),
        (RegionFacts("450100", 2), False),
        (None, False),
    ],
)
def test_fl_1_destination(destination, ok):
    violations = check_filing(filing(destination=destination)).violations
    assert (violations == []) == ok
    if not ok:
        assert "FL-1" in rules.rules_of(violations)


def test_fl_1_guangxi_destination_explains_gx_1():
    violations = check_filing(filing(destination=RegionFacts("450100", 2))).violations
    assert "GX-1" in violations[0].message


def test_fl_2_subtype_belongs_to_type():
    assert rules.rules_of(check_filing(filing(subtype="posted_worker")).violations)[0] == "FL-2"


def test_fl_3_default_end_and_minimum():
    assert check_filing(filing()).end == D(2026, 2, 28)
    assert rules.rules_of(check_filing(filing(end=D(2026, 2, 27))).violations) == ["FL-3"]


def test_fl_4_long_term_has_no_end_and_a_lock():
    long_term = filing(
        type="long_term",
        subtype="retired_resettled",
        materials=frozenset({"identity", "household_register"}),
    )
    assert check_filing(long_term).end is None
    assert rules.rules_of(
        check_filing(
            filing(
                type="long_term",
                subtype="retired_resettled",
                end=D(2026, 1, 1),
                materials=frozenset({"identity", "household_register"}),
            )
        ).violations
    ) == ["FL-4"]
    cancel = dict(type="long_term", status="active", start=D(2025, 1, 15), end=None, params=PARAMS)
    assert rules.rules_of(rules.check_filing_cancel(day=D(2025, 7, 14), **cancel)) == ["FL-4"]
    assert rules.check_filing_cancel(day=D(2025, 7, 15), **cancel) == []


def test_fl_5_materials_per_subtype():
    resident = filing(type="long_term", subtype="long_term_resident")
    assert rules.rules_of(check_filing(resident).violations) == ["FL-5"]
    with_letter = filing(
        type="long_term",
        subtype="long_term_resident",
        materials=frozenset({"identity", "commitment_letter"}),
    )
    assert check_filing(with_letter).violations == []


def test_fl_6_transfer_takes_the_letters_dates():
    letter = rules.LetterFacts(1, True, GUANGZHOU, Period(D(2025, 2, 20), D(2025, 8, 20)))
    request = filing(
        subtype="transfer", materials=frozenset({"identity", "transfer_letter"}), letter=letter
    )
    check = check_filing(request)
    assert check.violations == []
    assert (check.start, check.end) == (D(2025, 2, 20), D(2025, 8, 20))
    other = rules.LetterFacts(1, False, GUANGZHOU, letter.period)
    assert "FL-6" in rules.rules_of(
        check_filing(filing(subtype="transfer", letter=other)).violations
    )


def test_fl_7_late_filing_is_retroactive():
    assert check_filing(filing(start=D(2025, 8, 1), filed_on=D(2025, 8, 20))).retroactive
    assert not check_filing(filing()).retroactive


def test_fl_8_overlaps():
    active = FilingFacts(1, "filing", "long_term", "440300", Period(D(2025, 1, 1)))
    long_term = filing(
        type="long_term",
        subtype="retired_resettled",
        materials=frozenset({"identity", "household_register"}),
    )
    assert rules.rules_of(check_filing(long_term, [active]).violations) == ["FL-8"]
    temp = FilingFacts(2, "filing", "temporary", "440100", Period(D(2025, 3, 1), D(2025, 9, 1)))
    assert rules.rules_of(check_filing(filing(), [temp]).violations) == ["FL-8"]
    assert check_filing(filing(start=D(2025, 9, 1)), [temp]).violations == []
    letter = FilingFacts(3, "letter", "temporary", "440100", Period(D(2025, 3, 1), D(2025, 9, 1)))
    assert check_filing(filing(), [letter]).violations == []


def test_fl_9_agent_is_complete():
    half = rules.Agent(name="韦某")
    assert set(rules.rules_of(check_filing(filing(agent=half)).violations)) == {"FL-9"}
    assert rules.rules_of(check_filing(filing(channel="fax")).violations) == ["FL-9"]


def test_fl_10_only_active_filings_change():
    assert rules.rules_of(
        rules.check_filing_cancel(
            type="temporary",
            status="cancelled",
            start=D(2025, 3, 1),
            end=D(2025, 3, 5),
            day=D(2025, 3, 2),
            params=PARAMS,
        )
    ) == ["FL-10"]


@pytest.mark.parametrize("status", ["active", "expired"])
def test_fl_10_a_temporary_filing_is_cancellable_before_its_end_by_its_dates(status):
    """The answer comes from the dates, whether or not the daily job has marked it."""
    temporary = dict(type="temporary", status=status, start=D(2025, 3, 1), end=D(2025, 9, 1))
    assert rules.check_filing_cancel(day=D(2025, 8, 31), params=PARAMS, **temporary) == []
    for day in (D(2025, 9, 1), D(2025, 9, 2)):
        found = rules.check_filing_cancel(day=day, params=PARAMS, **temporary)
        assert rules.rules_of(found) == ["FL-10"]


@pytest.mark.parametrize(
    ("day", "months", "latest"),
    [
        (D(2026, 2, 28), 6, D(2025, 8, 31)),  # 08-29..31 all clip to 02-28
        (D(2026, 2, 27), 6, D(2025, 8, 27)),
        (D(2026, 3, 1), 6, D(2025, 9, 1)),
        (D(2026, 4, 30), 6, D(2025, 10, 31)),
        (D(2026, 3, 30), 6, D(2025, 9, 30)),
        (D(2028, 2, 29), 6, D(2027, 8, 31)),  # leap year
        (D(2029, 2, 28), 12, D(2028, 2, 29)),
        (D(2027, 2, 28), 12, D(2026, 2, 28)),
        (D(2025, 12, 31), 1, D(2025, 11, 30)),
    ],
)
def test_latest_start_before_inverts_add_months(day, months, latest):
    assert rules.latest_start_before(day, months) == latest
    assert rules.add_months(latest, months) <= day
    assert rules.add_months(latest + dt.timedelta(days=1), months) > day


def test_latest_start_before_agrees_with_add_months_on_every_day_of_four_years():
    day = D(2025, 1, 1)
    while day < D(2029, 1, 1):
        for months in (1, 6, 12):
            latest = rules.latest_start_before(day, months)
            assert (
                rules.add_months(latest, months)
                <= day
                < rules.add_months(latest + dt.timedelta(days=1), months)
            )
        day += dt.timedelta(days=1)


# --- TL ---------------------------------------------------------------------------------------


def letter(**overrides):
    values = dict(
        patient_prefecture=HECHI,
        issuer=JINCHENGJIANG,
        receiver=GUANGZHOU,
        reason="technical",
        reason_text="",
        issued_on=D(2025, 3, 1),
        disease="M03900",
        qualifications=[approved()],
        params=PARAMS,
        today=D(2025, 3, 1),
    )
    return rules.check_letter(**{**values, **overrides})


def test_tl_rules():
    assert letter() == []
    small = InstitutionFacts("H45120200002", "451202", HECHI, 1, True, transfer_issuer=True)
    assert rules.rules_of(letter(issuer=small)) == ["TL-1"]
    assert "TL-1" in rules.rules_of(letter(issuer=NANNING))
    assert rules.rules_of(
        letter(receiver=InstitutionFacts("H45120300001", "451203", HECHI, 2, True))
    ) == ["TL-2"]
    assert rules.rules_of(letter(reason="other")) == ["TL-2"]
    assert rules.rules_of(letter(qualifications=[])) == ["TL-3"]
    assert rules.letter_period(D(2025, 8, 31), PARAMS) == Period(D(2025, 8, 31), D(2026, 2, 28))


def test_tl_5_letter_covers_the_receivers_city():
    basis = FilingFacts(1, "letter", "temporary", "440100", Period(D(2025, 3, 1), D(2025, 9, 1)))
    assert rules.find_basis(GUANGZHOU, D(2025, 8, 31), [basis]) == basis
    assert rules.find_basis(GUANGZHOU, D(2025, 9, 1), [basis]) is None


# --- ST ---------------------------------------------------------------------------------------


def settle(
    institution,
    day=D(2025, 3, 1),
    qualifications=None,
    selections=None,
    bases=(),
    disease=HYPERTENSION,
):
    return rules.check_settlement(
        day=day,
        disease=disease,
        institution=institution,
        patient_prefecture=HECHI,
        qualifications=[approved()] if qualifications is None else qualifications,
        selections=[selection(institution.code, 1)] if selections is None else selections,
        bases=list(bases),
        params=PARAMS,
    )


def test_st_direct_in_city_and_in_region():
    assert settle(JINCHENGJIANG).outcome == rules.Outcome.DIRECT
    answer = settle(NANNING)
    assert answer.outcome == rules.Outcome.DIRECT
    assert "ST-7" in answer.passed


def test_st_all_rules_are_evaluated_in_order():
    answer = settle(
        GUANGZHOU, qualifications=[], selections=[], disease=rules.DiseaseFacts("M02500", "癫痫")
    )
    assert answer.outcome == rules.Outcome.NOT_COVERED
    assert rules.rules_of(answer.failed) == ["ST-1", "ST-2", "ST-4", "ST-5", "ST-6"]


def test_st_manual_outside_guangxi_without_basis():
    answer = settle(GUANGZHOU)
    assert answer.outcome == rules.Outcome.MANUAL
    assert rules.rules_of(answer.failed) == ["ST-6"]
    basis = FilingFacts(1, "filing", "temporary", "440100", Period(D(2025, 1, 1), D(2025, 7, 1)))
    assert settle(GUANGZHOU, bases=[basis]).outcome == rules.Outcome.DIRECT


def test_st_3_and_st_4():
    closed = InstitutionFacts(
        "H45120200001",
        "451202",
        HECHI,
        3,
        True,
        designated_until=D(2025, 3, 1),
        networked_in_region=frozenset({"M03900"}),
    )
    assert rules.rules_of(settle(closed).failed) == ["ST-3"]
    not_networked = InstitutionFacts("H45120200001", "451202", HECHI, 3, True)
    answer = settle(not_networked)
    assert (answer.outcome, rules.rules_of(answer.failed)) == (rules.Outcome.MANUAL, ["ST-4"])


def test_st_7_before_gx_1():
    answer = settle(
        NANNING,
        day=D(2023, 6, 30),
        qualifications=[approved(start=D(2023, 1, 1))],
        selections=[selection(NANNING.code, 1, start=D(2023, 1, 1))],
    )
    assert rules.rules_of(answer.failed) == ["ST-7"]


# --- RM ---------------------------------------------------------------------------------------


def test_rm_stage_days_count_back_from_the_end():
    assert rules.stage_day(D(2025, 9, 1), "30") == D(2025, 8, 2)
    assert rules.stage_day(D(2025, 9, 1), "expired") == D(2025, 9, 1)


def test_rm_5_only_the_latest_due_stage_is_sent():
    due = rules.due_stages(end=D(2025, 9, 1), stages_days=[30, 7], today=D(2025, 8, 26), done=[])
    assert (due.send, due.superseded) == ("7", ["30"])
    due = rules.due_stages(end=D(2025, 9, 1), stages_days=[30, 7], today=D(2025, 9, 3), done=["30"])
    assert (due.send, due.superseded) == ("expired", ["7"])
    assert (
        rules.due_stages(end=D(2025, 9, 1), stages_days=[30, 7], today=D(2025, 8, 1), done=[]).send
        is None
    )
    assert (
        rules.due_stages(
            end=D(2025, 9, 1), stages_days=[30, 7], today=D(2025, 8, 2), done=["30"]
        ).send
        is None
    )


def test_rm_2_lock_lift_day():
    assert rules.lock_lift_day(D(2025, 8, 31), PARAMS) == D(2026, 2, 28)


def test_rm_4_recipients():
    deliveries = rules.reminder_recipients(
        clerks=[(1, "a@x.cn"), (2, "")], patient_phone="13800000000"
    )
    assert [d.channel for d in deliveries] == ["inbox", "inbox", "email", "sms"]


def test_no_action_dated_in_the_future_and_no_diagnosis_before_birth():
    assert rules.rules_of(application(applied_on=D(2025, 3, 2))) == ["QL-5"]
    assert rules.rules_of(letter(issued_on=D(2025, 3, 2), qualifications=[])) == [
        "TL-4",
        "TL-3",
    ]
    before_birth = application(diagnosis_date=D(1899, 12, 31), birth_date=D(1980, 1, 1))
    assert [(v.rule, v.field) for v in before_birth] == [("QL-5", "diagnosis_date")]
    assert "1980-01-01" in before_birth[0].message


def test_spaces_inside_an_id_number_are_removed():
    assert rules.normalize_cert_number(" 4512 0219 8001 0112 33 ") == "451202198001011233"
    assert (
        rules.normalize_cert_number("４５１２０２　１９８００１０１１２３ｘ")
        == "45120219800101123X"
    )


def test_division_prefixes():
    assert rules.division_prefix("450000") == "45"
    assert rules.division_prefix("451200") == "4512"
    assert rules.division_prefix("451202") == "451202"
