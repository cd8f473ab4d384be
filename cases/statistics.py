# ruff: noqa: S608 - the SQL below names the models' own tables; every value is a parameter.
"""Statistics above the county (统计分析): the summary table's rebuild and its reading.

The figures are counted from the records' dates, as every rule is (POLICY.md, Dates): a
qualification, selection or filing counts on a day when its period covers that day,
whatever its status says. ``refresh`` rebuilds the summary table (cases.models.Figure)
for the last ``STATISTICS_MONTHS`` months in one transaction; readers keep the previous
figures until it commits. A stock (what is in force) is counted on each month's as-of
day — its last day, or the refresh's day for the current month — from the running sum
of the periods that began and ended up to it, so the rebuild reads each table once.

``tables`` answers a page or a report: the user's area (cases.access), a period of
months, a disease and an insurance type, in a handful of queries whatever the number of
counties.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from cases import facts, rules
from cases.models import (
    Figure,
    Filing,
    Measure,
    Patient,
    Qualification,
    Reminder,
    Selection,
    StatisticsRun,
    TransferLetter,
)
from institutions.models import Disease, Region
from portal import replica
from portal.models import Bureau

EXPIRING_DAYS = (30, 60)
EXPIRING_KINDS = {"filing": "临时跨省备案", "letter": "转诊证明"}


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def month_end(month: dt.date) -> dt.date:
    """The month's last day."""
    return add_months(month, 1) - dt.timedelta(days=1)


def window(today: dt.date) -> list[dt.date]:
    """The months the summary table holds, oldest first, the current one last."""
    current = month_start(today)
    count = settings.STATISTICS_MONTHS
    return [add_months(current, i - count + 1) for i in range(count)]


# --- the rebuild ------------------------------------------------------------------------------

# A stock's source: bureau, disease (0: none), insurance type, key, first day, end (exclusive).
_T = {
    "bureau": Bureau._meta.db_table,
    "region": Region._meta.db_table,
    "disease": Disease._meta.db_table,
    "qualification": Qualification._meta.db_table,
    "patient": Patient._meta.db_table,
    "selection": Selection._meta.db_table,
    "filing": Filing._meta.db_table,
    "letter": TransferLetter._meta.db_table,
    "reminder": Reminder._meta.db_table,
    "figure": Figure._meta.db_table,
}

_STOCK_SOURCES = {
    Measure.QUALIFICATIONS: f"""
        SELECT q.bureau_id, q.disease_id, p.insurance_type, '' AS key,
               q.valid_from AS first_day, q.valid_until AS end_day
        FROM {_T["qualification"]} q JOIN {_T["patient"]} p ON p.id = q.patient_id
        WHERE q.status = ANY(%(held)s) AND q.valid_from IS NOT NULL""",
    Measure.SELECTIONS: f"""
        SELECT p.bureau_id, 0 AS disease_id, p.insurance_type, s.scope AS key,
               s.start AS first_day, s."end" AS end_day
        FROM {_T["selection"]} s JOIN {_T["patient"]} p ON p.id = s.patient_id""",
    Measure.FILINGS: f"""
        SELECT f.bureau_id, 0 AS disease_id, p.insurance_type,
               left(f.destination_id, 2) || '0000:' || f.type AS key,
               f.start AS first_day, f."end" AS end_day
        FROM {_T["filing"]} f JOIN {_T["patient"]} p ON p.id = f.patient_id""",
}

_STOCK = """
WITH months AS (
    SELECT generate_series(%(first)s::date, %(current)s::date, interval '1 month')::date AS month
), src AS ({source}),
net AS (
    SELECT bureau_id, disease_id, insurance_type, key, month, sum(delta) AS delta FROM (
        SELECT bureau_id, disease_id, insurance_type, key,
               greatest(date_trunc('month', first_day)::date, %(first)s) AS month, 1 AS delta
        FROM src WHERE first_day <= %(today)s
        UNION ALL
        SELECT bureau_id, disease_id, insurance_type, key,
               greatest(date_trunc('month', end_day)::date, %(first)s), -1
        FROM src WHERE end_day <= %(today)s
    ) events GROUP BY 1, 2, 3, 4, 5
),
keys AS (SELECT DISTINCT bureau_id, disease_id, insurance_type, key FROM net),
running AS (
    SELECT k.bureau_id, k.disease_id, k.insurance_type, k.key, m.month,
           sum(coalesce(n.delta, 0)) OVER (
               PARTITION BY k.bureau_id, k.disease_id, k.insurance_type, k.key ORDER BY m.month
           ) AS value
    FROM keys k CROSS JOIN months m
    LEFT JOIN net n ON n.bureau_id = k.bureau_id AND n.disease_id = k.disease_id
        AND n.insurance_type = k.insurance_type AND n.key = k.key AND n.month = m.month
)
INSERT INTO {figure} (month, bureau_id, disease_id, insurance_type, measure, key, value)
SELECT month, bureau_id, nullif(disease_id, 0), insurance_type, %(measure)s, key, value
FROM running WHERE value > 0
"""

# What ends within 30 or 60 days of each month's as-of day, still in force on it.
_EXPIRING = f"""
WITH months AS (
    SELECT g::date AS month,
           least((g + interval '1 month' - interval '1 day')::date, %(today)s) AS as_of
    FROM generate_series(%(first)s::date, %(current)s::date, interval '1 month') AS g
), src AS (
    SELECT f.bureau_id, 0 AS disease_id, p.insurance_type, 'filing' AS kind,
           f.start AS first_day, f."end" AS end_day
    FROM {_T["filing"]} f JOIN {_T["patient"]} p ON p.id = f.patient_id
    WHERE f.type = 'temporary' AND f."end" > %(first)s AND f."end" <= %(horizon)s
    UNION ALL
    SELECT t.bureau_id, t.disease_id, p.insurance_type, 'letter', t.issued_on, t."end"
    FROM {_T["letter"]} t JOIN {_T["patient"]} p ON p.id = t.patient_id
    WHERE t."end" > %(first)s AND t."end" <= %(horizon)s
)
INSERT INTO {_T["figure"]} (month, bureau_id, disease_id, insurance_type, measure, key, value)
SELECT m.month, s.bureau_id, nullif(s.disease_id, 0), s.insurance_type, 'expiring',
       s.kind || ':' || w.days, count(*)
FROM months m CROSS JOIN (VALUES (30), (60)) AS w(days)
JOIN src s ON s.first_day <= m.as_of AND s.end_day > m.as_of
    AND s.end_day <= m.as_of + w.days
GROUP BY 1, 2, 3, 4, 6
"""

_FLOWS = f"""
INSERT INTO {_T["figure"]} (month, bureau_id, disease_id, insurance_type, measure, key, value)
SELECT date_trunc('month', q.decided_on)::date, q.bureau_id, q.disease_id, p.insurance_type,
       CASE WHEN q.status = 'rejected' THEN 'rejected' ELSE 'approved' END, '', count(*)
FROM {_T["qualification"]} q JOIN {_T["patient"]} p ON p.id = q.patient_id
WHERE q.decided_on BETWEEN %(first)s AND %(today)s
  AND (q.status = 'rejected' OR q.status = ANY(%(held)s))
GROUP BY 1, 2, 3, 4, 5;

INSERT INTO {_T["figure"]} (month, bureau_id, disease_id, insurance_type, measure, key, value)
SELECT date_trunc('month', q.decided_on)::date, q.bureau_id, q.disease_id, p.insurance_type,
       'review_days', greatest(q.decided_on - q.applied_on, 0)::text, count(*)
FROM {_T["qualification"]} q JOIN {_T["patient"]} p ON p.id = q.patient_id
WHERE q.decided_on BETWEEN %(first)s AND %(today)s
  AND (q.status = 'rejected' OR q.status = ANY(%(held)s))
GROUP BY 1, 2, 3, 4, 6;

INSERT INTO {_T["figure"]} (month, bureau_id, disease_id, insurance_type, measure, key, value)
SELECT date_trunc('month', d)::date, r.bureau_id, NULL, p.insurance_type, measure, '', count(*)
FROM (
    SELECT r.*, (r.sent_at AT TIME ZONE %(tz)s)::date AS d, 'reminders_sent' AS measure
    FROM {_T["reminder"]} r WHERE r.status = 'sent' AND r.sent_at IS NOT NULL
    UNION ALL
    SELECT r.*, r.due_on, 'reminders_failed' FROM {_T["reminder"]} r WHERE r.status = 'failed'
) r JOIN {_T["patient"]} p ON p.id = r.patient_id
WHERE d BETWEEN %(first)s AND %(today)s
GROUP BY 1, 2, 4, 5;
"""


# Every count by disease also as its total over the diseases (disease NULL), so that a
# page without the disease filter sums a bureau's totals instead of its every disease.
_TOTALS = f"""
INSERT INTO {_T["figure"]} (month, bureau_id, disease_id, insurance_type, measure, key, value)
SELECT month, bureau_id, NULL, insurance_type, measure, key, sum(value)
FROM {_T["figure"]} WHERE disease_id IS NOT NULL
GROUP BY month, bureau_id, insurance_type, measure, key
"""


def refresh(today: dt.date | None = None) -> StatisticsRun:
    """Rebuild the summary table as of ``today`` (the job's day), in one transaction."""
    today = today or facts.today()
    months = window(today)
    params: dict[str, Any] = {
        "first": months[0],
        "current": months[-1],
        "today": today,
        "horizon": today + dt.timedelta(days=max(EXPIRING_DAYS)),
        "held": [str(s) for s in rules.HELD],
        "tz": settings.TIME_ZONE,
    }
    started = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        # One rebuild at a time; readers keep reading the figures being replaced.
        cursor.execute(f"LOCK TABLE {_T['figure']} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f"DELETE FROM {_T['figure']}")
        for measure, source in _STOCK_SOURCES.items():
            sql = _STOCK.format(source=source, figure=_T["figure"])
            cursor.execute(sql, {**params, "measure": str(measure)})
        cursor.execute(_EXPIRING, params)
        for statement in _FLOWS.split(";"):
            if statement.strip():
                cursor.execute(statement, params)
        cursor.execute(_TOTALS)
        cursor.execute(f"SELECT count(*) FROM {_T['figure']}")
        rows = cursor.fetchone()[0]
        return StatisticsRun.objects.create(
            as_of=today,
            started_at=started,
            finished_at=timezone.now(),
            first_month=months[0],
            rows=rows,
        )


def latest_run() -> StatisticsRun | None:
    return StatisticsRun.objects.order_by("-finished_at").first()


# --- reading --------------------------------------------------------------------------------


def sub_area_code(county: str, area: Region) -> str:
    """Where a county's figures go in a chart of ``area``: its prefecture under the
    region, itself under a prefecture or a county."""
    if rules.division_level(area.code) == rules.DivisionLevel.PROVINCE:
        return county[:4] + "00"
    return county


@dataclass(frozen=True)
class Criteria:
    """What a page or a report counts: an area, months (first to last), a disease, a
    scheme. The area is one the user may see (cases.access.statistics_areas)."""

    area: Region
    first: dt.date
    last: dt.date
    disease: Disease | None = None
    insurance_type: str = ""


@dataclass
class Table:
    """One table of figures, as the page, its export and the monthly report show it."""

    name: str
    title: str
    headers: list[str]
    rows: list[list[Any]]
    chart: list[tuple[str, list[int]]] = field(default_factory=list)
    series: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class Statistics:
    criteria: Criteria
    run: StatisticsRun | None
    tables: list[Table]

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)


def median(histogram: dict[int, int]) -> float | None:
    """The median of values given as {value: how many}; None when there are none."""
    total = sum(histogram.values())
    if not total:
        return None
    wanted = ((total - 1) // 2, total // 2)
    found: list[int] = []
    seen = 0
    for value in sorted(histogram):
        count = histogram[value]
        for index in wanted:
            if seen <= index < seen + count:
                found.append(value)
        seen += count
    return sum(found) / 2


def _change(now: int, before: int) -> int:
    return now - before


# The figures of an area, read in one statement: each branch sums one table's rows through
# the summary table's index (measure, month, bureau). ``{stock}``, ``{flows}``, ``{review}``
# and ``{each}`` are the disease conditions below, chosen in Python (no value in the text).
_READ = f"""
WITH b AS (
    SELECT pb.id, pb.county_id, r.name AS county_name, coalesce(p.name, '') AS prefecture_name
    FROM {_T["bureau"]} pb JOIN {_T["region"]} r ON r.code = pb.county_id
    LEFT JOIN {_T["region"]} p ON p.code = substr(pb.county_id, 1, 4) || '00'
    WHERE r.code LIKE %(prefix)s AND r.level = 3
)
SELECT 'c', NULL::date, b.county_id, b.county_name, b.prefecture_name, 0 FROM b
UNION ALL
SELECT 'd', f.month, d.code, d.name, '', sum(f.value)
FROM {_T["figure"]} f JOIN {_T["disease"]} d ON d.id = f.disease_id
WHERE f.measure = 'qualifications' AND f.month = ANY(%(stock)s)
  AND f.bureau_id IN (SELECT id FROM b) AND {{each}} AND {{scheme}}
GROUP BY 2, 3, 4
UNION ALL
SELECT 'b', f.month, b.county_id, '', '', sum(f.value)
FROM {_T["figure"]} f JOIN b ON b.id = f.bureau_id
WHERE f.measure = 'qualifications' AND f.month = ANY(%(stock)s) AND {{review}} AND {{scheme}}
GROUP BY 2, 3
UNION ALL
SELECT 'k', f.month, f.measure || '|' || f.key, coalesce(r.name, ''), '', sum(f.value)
FROM {_T["figure"]} f
LEFT JOIN {_T["region"]} r ON f.measure = 'filings' AND r.code = split_part(f.key, ':', 1)
WHERE f.measure IN ('selections', 'filings', 'expiring') AND f.month = ANY(%(stock)s)
  AND f.bureau_id IN (SELECT id FROM b) AND {{stock}} AND {{scheme}}
GROUP BY 2, 3, 4
UNION ALL
SELECT 'f', f.month, f.measure, '', '', sum(f.value)
FROM {_T["figure"]} f
WHERE f.measure IN ('approved', 'rejected', 'reminders_sent', 'reminders_failed')
  AND f.month BETWEEN %(first)s AND %(last)s
  AND f.bureau_id IN (SELECT id FROM b) AND {{flows}} AND {{scheme}}
GROUP BY 2, 3
UNION ALL
SELECT 'r', f.month, f.key, '', '', sum(f.value)
FROM {_T["figure"]} f
WHERE f.measure = 'review_days' AND f.month BETWEEN %(first)s AND %(last)s
  AND f.bureau_id IN (SELECT id FROM b) AND {{review}} AND {{scheme}}
GROUP BY 2, 3
"""

# The disease conditions: without the filter, the totals over the diseases (disease
# NULL); with it, that disease's rows and the rows of figures that have no disease.
_UNFILTERED = {
    "each": "f.disease_id IS NOT NULL",
    "review": "f.disease_id IS NULL",
    "stock": "f.disease_id IS NULL",
    "flows": "f.disease_id IS NULL",
}
_FILTERED = {
    "each": "f.disease_id = %(disease)s",
    "review": "f.disease_id = %(disease)s",
    "stock": "(f.disease_id = %(disease)s OR (f.disease_id IS NULL AND "
    "(f.measure IN ('selections', 'filings') OR f.key LIKE 'filing:%%')))",
    "flows": "(f.disease_id = %(disease)s OR (f.disease_id IS NULL AND "
    "f.measure IN ('reminders_sent', 'reminders_failed')))",
}


@dataclass
class _Read:
    """The figures of one area, as read: per table, before (the month before the last)
    and now (the last month) for stocks, per month for flows."""

    counties: list[tuple[str, str, str]] = field(default_factory=list)
    by_disease: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    by_county: dict[str, list[int]] = field(default_factory=dict)
    keyed: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    flows: dict[tuple[str, dt.date], int] = field(default_factory=dict)
    review: dict[dt.date, dict[int, int]] = field(default_factory=dict)


def _read(criteria: Criteria) -> _Read:
    last, previous = criteria.last, add_months(criteria.last, -1)
    conditions = _UNFILTERED if criteria.disease is None else _FILTERED
    scheme = "f.insurance_type = %(scheme)s" if criteria.insurance_type else "TRUE"
    sql = _READ.format(scheme=scheme, **conditions)
    params: dict[str, Any] = {
        "prefix": rules.division_prefix(criteria.area.code) + "%",
        "stock": [previous, last],
        "first": criteria.first,
        "last": last,
        "disease": criteria.disease.pk if criteria.disease else None,
        "scheme": criteria.insurance_type,
    }
    read = _Read()
    with replica.read_connection(Figure).cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    for kind, month, key, name, extra, n in rows:
        now = month == last
        if kind == "c":
            read.counties.append((key, name, extra))
        elif kind == "d":
            read.by_disease.setdefault((key, name), [0, 0])[now] += n
        elif kind == "b":
            read.by_county.setdefault(key, [0, 0])[now] += n
        elif kind == "k":
            measure, _, rest = key.partition("|")
            read.keyed.setdefault((measure, rest), [0, 0])[now] += n
            if name:
                read.names[rest.split(":")[0]] = name
        elif kind == "f":
            read.flows[key, month] = n
        else:
            read.review.setdefault(month, {})[int(key)] = n
    return read


def tables(criteria: Criteria) -> Statistics:
    """Every table for ``criteria``: two queries (the figures, the rebuild's date)
    whatever the area's size."""
    read = _read(criteria)
    months = list(_months(criteria.first, criteria.last))
    return Statistics(
        criteria=criteria,
        run=latest_run(),
        tables=[
            _disease_table(read.by_disease),
            _county_table(read, criteria.area),
            _monthly_table(months, read.flows, read.review),
            _scope_table(read.keyed),
            _filing_table(read.keyed, read.names),
            _expiring_table(read.keyed),
            _reminder_table(months, read.flows),
        ],
    )


def _months(first: dt.date, last: dt.date) -> Iterable[dt.date]:
    month = first
    while month <= last:
        yield month
        month = add_months(month, 1)


def _disease_table(counts: dict[tuple[str, str], list[int]]) -> Table:
    ordered = sorted(counts.items(), key=lambda item: (-item[1][1], item[0][0]))
    rows: list[list[Any]] = [
        [code, name, now, before, _change(now, before)] for (code, name), (before, now) in ordered
    ]
    return Table(
        name="diseases",
        title="有效门特资格（按病种）",
        headers=["病种编码", "病种名称", "期末人数", "上月末人数", "增减"],
        rows=rows,
        chart=[(name, [now]) for (_, name), (_, now) in ordered[:15]],
        series=["期末人数"],
    )


def _county_table(read: _Read, area: Region) -> Table:
    rows: list[list[Any]] = []
    chart: dict[str, list[Any]] = {}
    by_prefecture = rules.division_level(area.code) == rules.DivisionLevel.PROVINCE
    for county, county_name, prefecture_name in sorted(read.counties):
        before, now = read.by_county.get(county, [0, 0])
        rows.append([prefecture_name, county_name, now, before, _change(now, before)])
        label = prefecture_name if by_prefecture else county_name
        chart.setdefault(sub_area_code(county, area), [label, 0])[1] += now
    return Table(
        name="counties",
        title="有效门特资格（按县区）",
        headers=["地市", "县区", "期末人数", "上月末人数", "增减"],
        rows=rows,
        chart=[(label, [n]) for _, (label, n) in sorted(chart.items())],
        series=["期末人数"],
    )


def _monthly_table(
    months: list[dt.date],
    flows: dict[tuple[str, dt.date], int],
    review: dict[dt.date, dict[int, int]],
) -> Table:
    rows: list[list[Any]] = []
    for month in months:
        middle = median(review.get(month, {}))
        rows.append(
            [
                f"{month:%Y-%m}",
                flows.get((Measure.APPROVED, month), 0),
                flows.get((Measure.REJECTED, month), 0),
                "" if middle is None else f"{middle:g}",
            ]
        )
    return Table(
        name="reviews",
        title="资格认定（按月）",
        headers=["月份", "新认定", "未通过", "复核用时中位数（天）"],
        rows=rows,
        chart=[(r[0], [r[1], r[2]]) for r in rows],
        series=["新认定", "未通过"],
        note="复核用时为申请日期至审核日期的天数。",
    )


def _scope_table(keyed: dict[tuple[str, str], list[int]]) -> Table:
    rows: list[list[Any]] = []
    for scope in rules.SelectionScope:
        before, now = keyed.get((Measure.SELECTIONS, scope.value), [0, 0])
        rows.append([scope.label, now, before, _change(now, before)])
    return Table(
        name="selections",
        title="有效选点（按范围）",
        headers=["选点范围", "期末数", "上月末数", "增减"],
        rows=rows,
        chart=[(r[0], [r[1]]) for r in rows],
        series=["期末数"],
        note="病种筛选不适用于选点。",
    )


def _filing_table(keyed: dict[tuple[str, str], list[int]], names: dict[str, str]) -> Table:
    by_province: dict[str, dict[str, int]] = defaultdict(dict)
    for (measure, key), (_, now) in keyed.items():
        if measure == Measure.FILINGS and now:
            province, kind = key.split(":")
            by_province[province][kind] = now
    rows: list[list[Any]] = []
    for province, kinds in sorted(by_province.items(), key=lambda item: -sum(item[1].values())):
        long_term = kinds.get(rules.FilingType.LONG_TERM.value, 0)
        temporary = kinds.get(rules.FilingType.TEMPORARY.value, 0)
        rows.append([names.get(province, province), long_term, temporary, long_term + temporary])
    return Table(
        name="filings",
        title="有效跨省备案（按就医省份、备案类型）",
        headers=["就医省份", "长期备案", "临时备案", "合计"],
        rows=rows,
        chart=[(r[0], [r[1], r[2]]) for r in rows[:15]],
        series=["长期备案", "临时备案"],
        note="病种筛选不适用于备案。",
    )


def _expiring_table(keyed: dict[tuple[str, str], list[int]]) -> Table:
    rows: list[list[Any]] = []
    for kind, label in EXPIRING_KINDS.items():
        counts = [
            keyed.get((Measure.EXPIRING, f"{kind}:{days}"), [0, 0])[1] for days in EXPIRING_DAYS
        ]
        rows.append([label, *counts])
    return Table(
        name="expiring",
        title="即将到期（期末起30天、60天内）",
        headers=["类别", *[f"{days}天内" for days in EXPIRING_DAYS]],
        rows=rows,
        chart=[(r[0], [r[1], r[2]]) for r in rows],
        series=[f"{days}天内" for days in EXPIRING_DAYS],
        note="有效期至落在统计期末起30天、60天内的临时跨省备案与转诊证明。",
    )


def _reminder_table(months: list[dt.date], flows: dict[tuple[str, dt.date], int]) -> Table:
    rows: list[list[Any]] = [
        [
            f"{month:%Y-%m}",
            flows.get((Measure.REMINDERS_SENT, month), 0),
            flows.get((Measure.REMINDERS_FAILED, month), 0),
        ]
        for month in months
    ]
    return Table(
        name="reminders",
        title="到期提醒（按月）",
        headers=["月份", "已送达", "发送失败"],
        rows=rows,
        chart=[(r[0], [r[1], r[2]]) for r in rows],
        series=["已送达", "发送失败"],
        note="病种筛选不适用于提醒。",
    )
