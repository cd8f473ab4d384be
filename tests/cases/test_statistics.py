"""Statistics (cases.statistics): every figure against a count made here, independently,
from the records the test wrote — by plain loops over their dates, not by the summary
table's SQL — for the region, a prefecture and a county, with each filter."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter, defaultdict
from statistics import median

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases import rules, statistics
from cases.models import Figure, Filing, Qualification, Reminder, Selection, TransferLetter
from cases.statistics import Criteria, add_months, month_end, month_start
from institutions.models import Disease, Region
from portal.models import Role
from tests import factories
from tests.conftest import make_bureau, make_user

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 11, 20)
COUNTIES = ("451202", "451203", "450202")  # 金城江区, 宜州区 (河池); 城中区 (柳州)
DISEASES = ("M03900", "M01600", "M00503", "M07803")
DESTINATIONS = ("440100", "330100", "440000", "510100")
HELD = {str(s) for s in rules.HELD}


def _day(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randrange((end - start).days + 1))


@pytest.fixture
def known(regions):
    """Patients in three counties of two prefectures with records of every kind, their
    dates drawn at random (seeded) around the last two years."""
    rng = random.Random(18)
    diseases = {d.code: d for d in Disease.objects.filter(code__in=DISEASES)}
    home = factories.institution("H45120200001", level=3)
    away = factories.institution("H44010000001", level=3)
    others = [factories.institution(f"H45020200{i:03d}", level=2) for i in range(3)]
    serial = iter(range(10_000))
    for county in COUNTIES:
        bureau = make_bureau(county)
        clerk = make_user(f"c{county}", Role.CLERK, bureau)
        reviewer = make_user(f"r{county}", Role.REVIEWER, bureau)
        for _ in range(9):
            patient = factories.patient(clerk, name="韦统计")
            patient.insurance_type = rng.choice(["310", "390"])
            patient.save(update_fields=["insurance_type"])
            for code in rng.sample(DISEASES, rng.randint(1, 3)):
                status = rng.choice(["approved", "expired", "cancelled", "rejected", "submitted"])
                applied = _day(rng, dt.date(2024, 9, 1), TODAY)
                decided = (
                    None if status == "submitted" else applied + dt.timedelta(rng.randint(0, 40))
                )
                if decided and decided > TODAY:
                    decided = TODAY
                held = status in HELD
                until = None
                if held and rng.random() < 0.6:
                    until = decided + dt.timedelta(days=rng.randint(20, 500))
                Qualification.objects.create(
                    patient=patient,
                    disease=diseases[code],
                    status=status,
                    applied_on=applied,
                    diagnosis_institution=home,
                    diagnosis_date=applied,
                    diagnosis_doctor="x",
                    recorded_by=clerk,
                    reviewed_by=reviewer if decided else None,
                    decided_on=decided,
                    valid_from=decided if held else None,
                    valid_until=until,
                )
            for slot, institution in enumerate(rng.sample(others, rng.randint(0, 2)), start=1):
                start = _day(rng, dt.date(2024, 6, 1), TODAY + dt.timedelta(days=20))
                end = (
                    start + dt.timedelta(days=rng.randint(10, 400)) if rng.random() < 0.5 else None
                )
                Selection.objects.create(
                    patient=patient,
                    institution=institution,
                    slot=slot,
                    start=start,
                    end=end,
                    scope=rng.choice(["in_city", "in_region"]),
                    created_by=clerk,
                )
            if rng.random() < 0.7:
                kind = rng.choice(["temporary", "long_term"])
                start = _day(rng, dt.date(2025, 1, 1), TODAY)
                if kind == "temporary":
                    end, status = start + dt.timedelta(days=rng.randint(10, 200)), "active"
                elif rng.random() < 0.3:
                    end, status = start + dt.timedelta(days=rng.randint(10, 300)), "cancelled"
                else:
                    end, status = None, "active"
                subtype = "other" if kind == "temporary" else "long_term_resident"
                filing = Filing.objects.create(
                    patient=patient,
                    type=kind,
                    subtype=subtype,
                    destination_id=rng.choice(DESTINATIONS),
                    start=start,
                    end=end,
                    filed_on=start,
                    status=status,
                    created_by=clerk,
                )
                if rng.random() < 0.6:
                    sent = rng.random() < 0.7
                    due = _day(rng, dt.date(2025, 1, 1), TODAY)
                    Reminder.objects.create(
                        filing=filing,
                        patient=patient,
                        bureau=bureau,
                        stage="30",
                        due_on=due,
                        record_end=end or TODAY,
                        status="sent" if sent else "failed",
                        sent_at=(
                            timezone.make_aware(dt.datetime.combine(due, dt.time(23, 30)))
                            if sent
                            else None
                        ),
                    )
            if rng.random() < 0.5:
                issued = _day(rng, dt.date(2025, 6, 1), TODAY)
                TransferLetter.objects.create(
                    serial=f"ZZ{next(serial):06d}",
                    patient=patient,
                    disease=diseases[rng.choice(DISEASES)],
                    issuer=home,
                    receiver=away,
                    reason="technical",
                    issued_on=issued,
                    end=issued + dt.timedelta(days=rng.randint(20, 183)),
                    created_by=clerk,
                )
    statistics.refresh(TODAY)


# --- the counts, made here --------------------------------------------------------------------


def as_of(month: dt.date) -> dt.date:
    return min(month_end(month), TODAY)


def covers(first, end, day) -> bool:
    return first is not None and first <= day and (end is None or end > day)


def in_area(bureau, area: str) -> bool:
    prefix = {1: area[:2], 2: area[:4], 3: area}[rules.division_level(area)]
    return bureau.county_id.startswith(prefix)


def wanted(patient, area, insurance):
    return in_area(patient.bureau, area) and (not insurance or patient.insurance_type == insurance)


def expected(  # noqa: C901, PLR0912 - one plain loop per figure, on purpose
    area: str, first: dt.date, last: dt.date, disease: str = "", insurance: str = ""
):
    quals = Qualification.objects.select_related("patient__bureau", "disease")
    quals = [
        q
        for q in quals
        if wanted(q.patient, area, insurance) and (not disease or q.disease.code == disease)
    ]
    day, before = as_of(last), as_of(add_months(last, -1))
    by_disease = Counter()
    by_disease_before = Counter()
    by_county = Counter()
    for q in quals:
        if q.status in HELD and covers(q.valid_from, q.valid_until, day):
            by_disease[q.disease.code] += 1
            by_county[q.patient.bureau.county_id] += 1
        if q.status in HELD and covers(q.valid_from, q.valid_until, before):
            by_disease_before[q.disease.code] += 1
    monthly = {}
    month = first
    while month <= last:
        decided = [q for q in quals if q.decided_on and month_start(q.decided_on) == month]
        approved = sum(1 for q in decided if q.status in HELD)
        rejected = sum(1 for q in decided if q.status == "rejected")
        days = [(q.decided_on - q.applied_on).days for q in decided if q.status != "submitted"]
        monthly[f"{month:%Y-%m}"] = (approved, rejected, f"{median(days):g}" if days else "")
        month = add_months(month, 1)
    selections = Counter(
        s.scope
        for s in Selection.objects.select_related("patient__bureau")
        if wanted(s.patient, area, insurance) and covers(s.start, s.end, day)
    )
    filings = defaultdict(Counter)
    expiring = Counter()
    for f in Filing.objects.select_related("patient__bureau"):
        if not wanted(f.patient, area, insurance):
            continue
        if covers(f.start, f.end, day):
            filings[f.destination_id[:2] + "0000"][f.type] += 1
            for n in (30, 60):
                if f.type == "temporary" and f.end <= day + dt.timedelta(days=n):
                    expiring["filing", n] += 1
    for t in TransferLetter.objects.select_related("patient__bureau", "disease"):
        if wanted(t.patient, area, insurance) and (not disease or t.disease.code == disease):
            for n in (30, 60):
                if covers(t.issued_on, t.end, day) and t.end <= day + dt.timedelta(days=n):
                    expiring["letter", n] += 1
    reminders = Counter()
    for r in Reminder.objects.select_related("patient__bureau"):
        if wanted(r.patient, area, insurance):
            when = timezone.localtime(r.sent_at).date() if r.status == "sent" else r.due_on
            if first <= month_start(when) <= last:
                reminders[f"{month_start(when):%Y-%m}", r.status] += 1
    return {
        "by_disease": by_disease,
        "by_disease_before": by_disease_before,
        "by_county": by_county,
        "monthly": monthly,
        "selections": selections,
        "filings": filings,
        "expiring": expiring,
        "reminders": reminders,
    }


def check(area: str, first: dt.date, last: dt.date, disease: str = "", insurance: str = ""):
    criteria = Criteria(
        area=Region.objects.get(code=area),
        first=first,
        last=last,
        disease=Disease.objects.get(code=disease) if disease else None,
        insurance_type=insurance,
    )
    got = statistics.tables(criteria)
    want = expected(area, first, last, disease, insurance)

    rows = got.table("diseases").rows
    assert {r[0]: r[2] for r in rows} == dict(+want["by_disease"])
    for code, _, now, before, change in rows:
        assert before == want["by_disease_before"][code]
        assert change == now - before
    names = dict(Region.objects.values_list("code", "name"))
    counties = {r[1]: r[2] for r in got.table("counties").rows}
    assert {k: v for k, v in counties.items() if v} == {
        names[c]: n for c, n in want["by_county"].items() if n
    }
    assert sum(counties.values()) == sum(want["by_disease"].values())
    assert {r[0]: tuple(r[1:]) for r in got.table("reviews").rows} == want["monthly"]
    labels = dict(rules.SelectionScope.choices)
    assert {r[0]: r[1] for r in got.table("selections").rows} == {
        labels[s]: want["selections"][s] for s in labels
    }
    assert {r[0]: (r[1], r[2]) for r in got.table("filings").rows} == {
        names[p]: (c["long_term"], c["temporary"]) for p, c in want["filings"].items()
    }
    assert {r[0]: (r[1], r[2]) for r in got.table("expiring").rows} == {
        "临时跨省备案": (want["expiring"]["filing", 30], want["expiring"]["filing", 60]),
        "转诊证明": (want["expiring"]["letter", 30], want["expiring"]["letter", 60]),
    }
    for month, sent, failed in got.table("reminders").rows:
        assert (sent, failed) == (
            want["reminders"][month, "sent"],
            want["reminders"][month, "failed"],
        )
    return got


@pytest.mark.parametrize(
    ("area", "first", "last", "disease", "insurance"),
    [
        ("450000", dt.date(2025, 12, 1), dt.date(2026, 11, 1), "", ""),
        ("451200", dt.date(2025, 12, 1), dt.date(2026, 11, 1), "", ""),
        ("450200", dt.date(2025, 12, 1), dt.date(2026, 11, 1), "", ""),
        ("451202", dt.date(2025, 12, 1), dt.date(2026, 11, 1), "", ""),
        ("450000", dt.date(2025, 1, 1), dt.date(2025, 6, 1), "", ""),
        ("450000", dt.date(2025, 6, 1), dt.date(2025, 9, 1), "M03900", ""),
        ("451200", dt.date(2026, 1, 1), dt.date(2026, 10, 1), "", "310"),
        ("450000", dt.date(2026, 3, 1), dt.date(2026, 3, 1), "M01600", "390"),
    ],
)
def test_every_figure_matches_a_count_made_here(known, area, first, last, disease, insurance):
    check(area, first, last, disease, insurance)


def test_the_figures_are_not_vacuous(known):
    got = check("450000", dt.date(2025, 12, 1), dt.date(2026, 11, 1))
    assert sum(r[2] for r in got.table("diseases").rows) > 10
    assert sum(r[1] for r in got.table("reviews").rows) > 5
    assert sum(r[1] for r in got.table("selections").rows) > 3
    assert got.table("filings").rows
    assert sum(r[1] + r[2] for r in got.table("reminders").rows) > 3


def test_a_refresh_replaces_the_figures_and_says_when(known):
    first = statistics.latest_run()
    assert first.as_of == TODAY
    rows = Figure.objects.count()
    again = statistics.refresh(TODAY)
    assert Figure.objects.count() == rows == again.rows
    assert statistics.latest_run() == again


def test_dates_decide_not_status(known):
    """A qualification still marked APPROVED after its end is not counted; an EXPIRED or
    CANCELLED one counts on the days of its period (POLICY.md, Dates)."""
    q = Qualification.objects.filter(status="approved", valid_until__isnull=False).first()
    Qualification.objects.filter(pk=q.pk).update(status="expired")
    statistics.refresh(TODAY)
    check("450000", dt.date(2025, 1, 1), dt.date(2026, 11, 1))


def test_the_median_of_a_histogram():
    assert statistics.median({}) is None
    assert statistics.median({3: 1}) == 3
    assert statistics.median({1: 1, 5: 1}) == 3
    assert statistics.median({1: 2, 9: 1}) == 1
    assert statistics.median({0: 1, 2: 2, 10: 1}) == 2


def test_queries_do_not_grow_with_the_counties(known):
    """Two queries for the region, a prefecture or a county."""
    counts = []
    for area in ("451202", "451200", "450000"):
        criteria = Criteria(
            area=Region.objects.get(code=area), first=dt.date(2026, 1, 1), last=dt.date(2026, 11, 1)
        )
        with CaptureQueriesContext(connection) as queries:
            statistics.tables(criteria)
        counts.append(len(queries))
    assert counts[0] == counts[1] == counts[2] == 2


def test_the_hourly_task_rebuilds_the_figures(known):
    from cases.tasks import refresh_statistics

    before = statistics.latest_run()
    assert "figures as of" in refresh_statistics()
    assert statistics.latest_run().pk != before.pk
