"""The import's batch path (cases.imports.batch) against its reference, the services path.

Hypothesis writes workbooks of a few patients whose rows clash the way a county's
archive does — duplicates, overlapping periods, a fourth selection, approvals with the
wrong validity, letters and filings that refer to each other, bad codes, dates and
values too long to store — and each workbook is checked and imported twice on
PostgreSQL, once through each path, each run in a savepoint that is rolled back. Both
paths must give every row the same outcome, rule, column, message and note, in the dry
run and in the import, and leave the same records, history and reminder checks.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cases import facts
from cases.imports import batch, engine
from cases.models import (
    Filing,
    ImportRow,
    InsuredPeriod,
    Patient,
    Qualification,
    ReminderCheck,
    Selection,
    TransferLetter,
)
from cases.services.moves import move_out
from cases.services.patients import patient_register
from cases.services.qualifications import qualification_apply, qualification_approve
from cases.services.selections import selection_add
from institutions.models import Disease, Institution
from tests import factories
from tests.cases.test_imports import PATIENT, QUALIFICATION, upload, xlsx

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("IMPORT_EXAMPLES", os.environ.get("METAMORPHIC_EXAMPLES", "60")))
TODAY = dt.date(2025, 12, 1)
ORIGIN = dt.date(2024, 1, 1)
KNOWN = "451202198001011233"  # registered here before the import, with records
ELSEWHERE = "450202197505050011"  # registered at another bureau
MOVED_OUT = "451202196505050018"  # registered here, moved out of Guangxi (MV-5)
NUMBERS = [
    KNOWN,
    "451202199002020013",
    "45120219700303002X",
    "451202850707002",  # first generation: 45120219850707002X
    ELSEWHERE,
    MOVED_OUT,
    "451202199002020014",  # a wrong check digit
]
INSTITUTIONS = [
    "H45120200001",  # home, issues letters
    "H45120200002",
    "H45120200003",
    "H45120200004",
    "H45010300001",  # elsewhere in Guangxi
    "H44010600001",  # Guangzhou
    "H99999999999",  # unknown
]
TOO_LONG = "很长" * 30
IMPORT_NUMBER = re.compile(r"导入 #\d+")
ID3 = "45120219700303002X"


@pytest.fixture(autouse=True)
def _today():
    with facts.as_of(TODAY):
        yield


@pytest.fixture
def world(clerk, reviewer, other_clerk):
    """The bureau's institutions, a patient it already has, one another bureau has."""
    factories.institution(
        "H45120200001", level=3, transfer_issuer=True, networked=("M03900", "M00201")
    )
    for code in INSTITUTIONS[1:4]:
        factories.institution(code)
    factories.institution("H45010300001")
    factories.institution("H44010600001", level=3, cross_province=("M03900", "M00201"))
    known = patient_register(
        by=clerk, cert_type="resident_id", cert_number=KNOWN, name="韦已登", insurance_type="390"
    ).patient
    disease = Disease.objects.get(code="M03900")
    home = Institution.objects.get(code="H45120200001")
    applied = qualification_apply(
        by=clerk,
        patient=known,
        disease=disease,
        applied_on=dt.date(2024, 3, 1),
        diagnosis_institution=home,
        diagnosis_date=dt.date(2024, 2, 1),
        diagnosis_doctor="李医生",
    )
    qualification_approve(by=reviewer, qualification=applied, decided_on=dt.date(2024, 3, 5))
    selection_add(by=clerk, patient=known, institution=home, start=dt.date(2024, 4, 1))
    moved = patient_register(
        by=clerk,
        cert_type="resident_id",
        cert_number=MOVED_OUT,
        name="韦转出",
        insurance_type="390",
    ).patient
    move_out(by=clerk, patient=moved, day=dt.date(2025, 6, 1))
    patient_register(
        by=other_clerk,
        cert_type="resident_id",
        cert_number=ELSEWHERE,
        name="覃别处",
        insurance_type="310",
    )
    return clerk, reviewer


def days(low: int = 0, high: int = 700) -> st.SearchStrategy[str]:
    """A date in one of the forms clerks write, or something that is not one."""
    day = st.integers(low, high).map(lambda n: ORIGIN + dt.timedelta(days=n))
    written = st.one_of(
        day.map(lambda d: d.isoformat()),
        day.map(lambda d: f"{d.year}年{d.month}月{d.day}日"),
        day.map(lambda d: f"{d:%Y%m%d}"),
    )
    return st.one_of(written, written, written, st.sampled_from(["", "2025-02-30"]))


number = st.sampled_from(NUMBERS)
patient = st.fixed_dictionaries(
    {
        "证件类型": st.sampled_from(["居民身份证", "", "护照"]),
        "证件号码": number,
        "姓名": st.sampled_from(["韦示例", "单丽", "", TOO_LONG]),
        "险种": st.sampled_from(["390", "310", "职工基本医疗保险", "999"]),
        "参保地": st.sampled_from(["", "451202", "金城江区", "450202", "不存在区"]),
        "联系电话": st.sampled_from(["13800001111", "", "12345"]),
        "联系地址": st.sampled_from(["", "新建路1号"]),
    }
)
qualification = st.fixed_dictionaries(
    {
        "证件号码": number,
        "病种编码": st.sampled_from(["M03900", "M00201", "Z99999", ""]),
        "病种名称": st.sampled_from(["", "", "高血压"]),
        "申请日期": days(),
        "诊断机构编码": st.sampled_from(["H45120200001", "H45120200002", "", "H99999999999"]),
        "诊断日期": days(),
        "诊断医师": st.sampled_from(["李医生", "", TOO_LONG]),
        "认定日期": days(),
        "有效期至": st.one_of(st.just(""), days(300, 1200)),
        "状态": st.sampled_from(["已认定", "已认定", "待复核", "已驳回"]),
    }
)
selection = st.fixed_dictionaries(
    {
        "证件号码": number,
        "机构编码": st.sampled_from(INSTITUTIONS),
        "机构名称": st.just(""),
        "开始日期": days(),
        "终止日期": st.one_of(st.just(""), st.just(""), days()),
        "终止原因": st.sampled_from(["", "迁居"]),
    }
)
filing = st.fixed_dictionaries(
    {
        "证件号码": number,
        "备案类型": st.sampled_from(["临时备案", "临时备案", "长期备案"]),
        "人员类别": st.sampled_from(
            ["其他临时外出就医", "异地转诊人员", "异地安置退休人员", "常驻异地工作人员", "乱填"]
        ),
        "就医地": st.sampled_from(["广州市", "440100", "上海市", "450200", ""]),
        "开始日期": days(),
        "有效期至": st.one_of(st.just(""), days()),
        "办理渠道": st.sampled_from(["", "窗口"]),
        "备案日期": st.one_of(st.just(""), days()),
        "转诊证明编号": st.sampled_from(["", "", "ZZ-A1", "ZZ-B2"]),
    }
)
letter = st.fixed_dictionaries(
    {
        "证件号码": number,
        "编号": st.sampled_from(["", "", "ZZ-A1", "ZZ-B2"]),
        "病种编码": st.sampled_from(["M03900", "M00201"]),
        "开具机构编码": st.sampled_from(["H45120200001", "H45120200002"]),
        "转入机构编码": st.sampled_from(["H44010600001", "H45010300001", "H45120200001"]),
        "转诊原因": st.sampled_from(["本地技术条件所限", "乱填"]),
        "开具日期": days(),
        "有效期至": st.one_of(st.just(""), days()),
    }
)
workbooks = st.fixed_dictionaries(
    {
        "参保人": st.lists(patient, max_size=6),
        "门特资格": st.lists(qualification, max_size=6),
        "选点": st.lists(selection, max_size=8),
        "跨省备案": st.lists(filing, max_size=4),
        "转诊证明": st.lists(letter, max_size=4),
    }
)


def outcomes(case_import: Any) -> list[tuple[Any, ...]]:
    rows = ImportRow.objects.filter(case_import=case_import).order_by("sheet", "number")
    return [(r.sheet, r.number, r.outcome, r.rule, r.column, r.message, r.note) for r in rows]


def records() -> dict[str, Any]:
    """Every case record and history entry, by natural keys (ids differ between runs)."""
    certs = dict(Patient.objects.values_list("id", "cert_number"))
    letters = dict(TransferLetter.objects.values_list("id", "serial"))
    filings = {
        f.pk: (certs[f.patient_id], f.type, f.destination_id, f.start) for f in Filing.objects.all()
    }
    qualifications = {
        q.pk: (certs[q.patient_id], q.disease_id, q.applied_on) for q in Qualification.objects.all()
    }
    natural = {
        "patient_id": certs,
        "transfer_letter_id": letters,
        "basis_letter_id": letters,
        "basis_filing_id": filings,
        "renewal_of_id": qualifications,
        "replaced_by_id": filings,
    }

    def rows(model: Any) -> list[tuple[Any, ...]]:
        out = []
        fields = [f.attname for f in model._meta.concrete_fields]
        drop = {"id", "created_at", "history_id", "history_date"}
        for values in model.objects.values_list(*fields):
            row = []
            for name, stored in zip(fields, values, strict=True):
                if name in drop:
                    continue
                value = natural[name][stored] if name in natural and stored is not None else stored
                if name == "history_change_reason" and value:
                    value = IMPORT_NUMBER.sub("导入 #", value)  # each run is its own import
                row.append((name, value))
            out.append(tuple(row))
        return sorted(out, key=repr)

    snapshot: dict[str, Any] = {}
    for model in (Patient, InsuredPeriod, Qualification, Selection, Filing, TransferLetter):
        snapshot[model.__name__] = rows(model)
        snapshot[f"history {model.__name__}"] = rows(model.history.model)
    snapshot["reminder checks"] = sorted(
        certs[pk] for pk in ReminderCheck.objects.values_list("patient_id", flat=True)
    )
    return snapshot


class _Rollback(Exception):
    pass


def run_path(path: str, clerk: Any, reviewer: Any, data: bytes) -> tuple[Any, Any, Any]:
    """Check and import ``data`` along ``path``; everything rolled back after."""
    result: tuple[Any, Any, Any] = ((), (), {})
    try:
        with transaction.atomic():
            case_import = upload(clerk, data)
            engine.run(case_import, apply=False, user=clerk, path=path)  # type: ignore[arg-type]
            checked = outcomes(case_import)
            engine.run(case_import, apply=True, user=clerk, reviewer=reviewer, path=path)  # type: ignore[arg-type]
            result = (checked, outcomes(case_import), records())
            raise _Rollback
    except _Rollback:
        pass
    return result


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    # An example is two imports (a second or so); a failure is reported as found, its
    # rows few enough to read without shrinking.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(book=workbooks)
def test_the_batch_path_reaches_what_the_services_reach_row_for_row(world, book):
    clerk, reviewer = world
    data = xlsx(**{name: rows for name, rows in book.items() if rows} or {"参保人": []})
    services = run_path("services", clerk, reviewer, data)
    batched = run_path("batch", clerk, reviewer, data)
    assert not difference("the dry run", services[0], batched[0])
    assert not difference("the import", services[1], batched[1])
    for name, expected in services[2].items():
        assert not difference(name, expected, batched[2][name])


def difference(what: str, services: Any, batched: Any) -> str:
    """The first row where the paths differ, readably."""
    if services == batched:
        return ""
    for one, other in zip(services, batched, strict=False):
        if one != other:
            return f"{what}: services {one!r}, batch {other!r}"
    return f"{what}: services {len(services)} rows, batch {len(batched)}"


def test_a_group_the_database_refuses_is_taken_again_row_by_row(world, monkeypatch):
    """A registration elsewhere that the group's read did not see (a concurrent write):
    the certificate's unique constraint refuses the group's COPY, and the group goes
    through the services, which refuse that row with ID-1 and import the rest."""
    clerk, reviewer = world
    stale = batch.BatchWriter._read_registered

    def misses_elsewhere(self: Any, numbers: set[str]) -> None:
        stale(self, numbers)
        self.by_certificate.pop(("resident_id", ELSEWHERE), None)

    monkeypatch.setattr(batch.BatchWriter, "_read_registered", misses_elsewhere)
    new = "451202199002020013"
    data = xlsx(
        参保人=[
            {**PATIENT, "证件号码": new, "姓名": "韦新", "险种": "390"},
            {**PATIENT, "证件号码": ELSEWHERE, "姓名": "覃别处", "险种": "310"},
        ]
    )
    case_import = upload(clerk, data)
    engine.run(case_import, apply=True, user=clerk, reviewer=reviewer)
    result = {r[1]: r[2:4] for r in outcomes(case_import)}
    assert result == {2: ("created", ""), 3: ("refused", "ID-1")}
    assert Patient.objects.filter(cert_number=new, bureau=clerk.bureau).exists()


def test_the_batch_path_refuses_nothing_the_database_would_take(world):
    """A group with no clashes is written in one COPY per table, history included."""
    clerk, reviewer = world
    data = xlsx(
        参保人=[{**PATIENT, "证件号码": "451202199002020013", "姓名": "韦新"}],
        门特资格=[{**QUALIFICATION, "证件号码": "451202199002020013"}],
    )
    case_import = upload(clerk, data)
    engine.run(case_import, apply=True, user=clerk, reviewer=reviewer)
    qualification = Qualification.objects.get(patient__cert_number="451202199002020013")
    assert (qualification.recorded_by, qualification.reviewed_by) == (clerk, reviewer)
    history = list(qualification.history.order_by("history_id"))
    assert [(h.history_type, h.history_user_id, h.status) for h in history] == [
        ("+", clerk.pk, "submitted"),
        ("~", reviewer.pk, "approved"),
    ]
    assert history[0].history_change_reason == f"导入 #{case_import.pk} 门特资格 第2行"
    # The ids came from the tables' sequences: the next registration takes a new one.
    later = patient_register(
        by=clerk, cert_type="resident_id", cert_number=ID3, name="韦后", insurance_type="390"
    ).patient
    assert later.pk > qualification.patient_id
