"""Hostile and random values posted to every form: never a 500, never a partial save."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases import facts
from cases.models import Filing, Patient, Qualification, Selection, TransferLetter
from cases.services.filings import filing_create
from cases.services.selections import selection_add
from institutions.models import Region
from tests import factories

pytestmark = pytest.mark.django_db
TODAY = dt.date(2025, 3, 1)
EXAMPLES = 200  # per form: fifteen forms and three searches, over 3,000 in all

HOSTILE = [
    "",
    " ",
    "0",
    "-1",
    "99999999999999999999999",
    "1e309",
    "NaN",
    "null",
    "None",
    "true",
    "'; DROP TABLE cases_patient; --",
    '" OR 1=1 --',
    "<script>alert(1)</script>",
    "javascript:alert(1)",
    '=HYPERLINK("x")',
    "../../etc/passwd",
    "%00",
    "\x00",
    "\x1b[31m",
    "\u202e",
    "\ufeff",
    "２０２５－０３－０１",
    "４５１２０２１９８００１０１１２３３",
    "2025-02-30",
    "2025-13-01",
    "0000-00-00",
    "9999-12-31",
    "1899-12-31",
    "451202198001011233",
    "H45120200001",
    "H4512020000１",
    "440100",
    "450100",
    "M03900",
    "x" * 5000,
    "中" * 1000,
    "approve",
    "reject",
    "temporary",
    "long_term",
    "transfer",
    "window",
    "qualification",
    "person",
    "csv",
    "45000000000000000012",
]
values = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=60), st.integers().map(str))


def snapshot():
    return tuple(
        m.objects.count() for m in (Patient, Qualification, Selection, Filing, TransferLetter)
    )


@pytest.fixture
def setting(clerk, reviewer):
    with facts.as_of(TODAY):
        patient = factories.patient(clerk)
        home = factories.institution(
            "H45120200001", level=3, transfer_issuer=True, networked=("M03900",)
        )
        factories.institution("H44010600001", level=3, cross_province=("M03900",))
        submitted = factories.qualification(clerk, reviewer, patient, day=TODAY)
        from cases.models import Qualification

        Qualification.objects.filter(pk=submitted.pk).update(
            status="submitted", reviewed_by=None, valid_from=None, decided_on=None
        )
        selection = selection_add(
            by=clerk, patient=patient, institution=home, start=TODAY
        ).selection
        filing = filing_create(
            by=clerk,
            patient=patient,
            type="temporary",
            subtype="other",
            destination=Region.objects.get(code="440100"),
            start=TODAY,
            materials=["identity"],
        )
    return {
        "patient": patient,
        "qualification": submitted,
        "selection": selection,
        "filing": filing,
    }


FORMS = {
    "patient_register": (
        None,
        ["cert_type", "cert_number", "name", "insurance_type", "phone", "address"],
    ),
    "qualification_apply": (
        "patient",
        [
            "disease",
            "applied_on",
            "diagnosis_institution",
            "diagnosis_date",
            "diagnosis_doctor",
            "channel",
            "agent_name",
            "agent_cert_number",
            "agent_phone",
            "agent_relation",
        ],
    ),
    "qualification_review": ("qualification", ["decision", "decided_on", "note"]),
    "selection_add": ("patient", ["institution", "start"]),
    "selection_end": ("selection", ["end", "end_reason"]),
    "filing_create": (
        "patient",
        [
            "type",
            "subtype",
            "destination",
            "start",
            "end",
            "transfer_letter",
            "materials",
            "channel",
            "agent_name",
            "agent_phone",
        ],
    ),
    "filing_cancel": ("filing", ["day", "reason"]),
    "filing_change": ("filing", ["day", "destination", "materials", "reason", "channel"]),
    "qualification_cancel": ("qualification", ["day", "reason"]),
    "patient_edit": ("patient", ["name", "phone", "address", "cert_number", "reason"]),
    "letter_issue": (
        "patient",
        ["disease", "issuer", "receiver", "reason", "reason_text", "issued_on"],
    ),
    "platform_ids": ("patient", ["psn_no"]),
    "two_factor_verify": (None, ["token", "next"]),
    "login": (None, ["username", "password"]),
    "inbox_read": (None, []),
    "inbox_read_all": (None, []),
}
SEARCHES = {
    "patient_search": ["q", "disease", "insurance_type", "filing_status", "page", "export"],
    "settlement": ["patient", "institution", "disease", "day"],
    "institution_finder": ["destination", "disease", "patient"],
    "exchange_export": ["kind", "first", "last", "changed_since", "fmt"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FORMS))
def test_hostile_posts_never_500_and_never_half_save(name, setting, client_for, reviewer):
    record, fields = FORMS[name]
    if name == "inbox_read":
        url = "/inbox/%s/read/"
    else:
        url = reverse(name, args=[setting[record].pk]) if record else reverse(name)
    client = client_for(reviewer)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.fixed_dictionaries(dict.fromkeys(fields, values)), pk=values)
    def post(data, pk):
        before = snapshot()
        target = url % pk.replace("/", "") if "%s" in url else url
        try:
            response = client.post(target, data)
        except Exception as exc:  # an exception here is a 500 for the clerk
            raise AssertionError(f"{name} raised {exc!r} for {data!r}") from exc
        assert response.status_code < 500, (name, data)
        if response.status_code != 302:
            assert snapshot() == before, f"{name} saved something while refusing {data!r}"

    post()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SEARCHES))
def test_hostile_searches_never_500(name, setting, client_for, clerk):
    client = client_for(clerk)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.fixed_dictionaries(dict.fromkeys(SEARCHES[name], values)))
    def get(data):
        response = client.get(reverse(name), data)
        assert response.status_code < 500, (name, data)

    get()


IMPORT_VALUES = st.one_of(
    st.sampled_from(
        [
            *HOSTILE,
            "2025/3/1",
            "2025年3月1日",
            "20250301",
            "已认定",
            "待复核",
            "临时备案",
            "长期备案",
            "其他临时外出就医",
            "城乡居民基本医疗保险",
            "广州市",
            "本地技术条件所限",
            "451202800101123",
        ]
    ),
    st.text(max_size=40),
)


@pytest.mark.slow
@pytest.mark.parametrize("sheet", ["参保人", "门特资格", "选点", "跨省备案", "转诊证明"])
def test_hostile_import_rows_are_refused_never_crash_the_run(sheet, setting, clerk, reviewer):
    """Random and hostile cells in every column of a sheet: the file is read, each row
    ends created, already there or refused with a message; the run itself never fails."""
    import csv
    import io

    from cases.imports import engine
    from cases.imports.sheets import BY_NAME
    from cases.models import ImportRow
    from cases.services.imports import import_upload

    headings = BY_NAME[sheet].headings

    @settings(
        max_examples=max(EXAMPLES // 4, 10),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(cells=st.fixed_dictionaries(dict.fromkeys(headings, IMPORT_VALUES)))
    def run(cells):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(headings)
        writer.writerow([cells[h] for h in headings])
        case_import = import_upload(
            by=clerk, file_name=f"{sheet}.csv", data=out.getvalue().encode("utf-8")
        )
        with facts.as_of(TODAY):
            engine.stage(case_import)
            if case_import.status == "failed":  # refused as a file, with its reason
                assert case_import.failure
                return
            engine.run(case_import, apply=True, user=clerk, reviewer=reviewer)
        for row in ImportRow.objects.filter(case_import=case_import):
            assert row.outcome in ("created", "unchanged", "refused"), row.outcome
            assert row.outcome != "refused" or row.message

    run()
