"""The work dashboard: every queue of the bureau, with counts, and a chart by disease."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect, render

from cases import access, facts, rules, selectors
from cases.models import Patient
from cases.views.common import EXPORT_FORMATS, StaffRequest, bureau_staff, export

QUEUE_ROWS = 10


def _queues(queues: dict[str, QuerySet[Any]]) -> dict[str, dict[str, Any]]:
    """Each queue's first rows (a query each) and every queue's count (one query)."""
    counts = selectors.queue_counts(queues)
    shown = {}
    for name, qs in queues.items():
        rows = list(qs[: QUEUE_ROWS + 1])
        shown[name] = {"rows": rows[:QUEUE_ROWS], "more": len(rows) > QUEUE_ROWS}
        shown[name]["count"] = counts[name]
    return shown


def bar_chart(counts: list[tuple[str, int]], width: int = 520, bar: int = 22) -> dict[str, Any]:
    """Server-rendered SVG bars (no JavaScript, no CDN)."""
    top = max((n for _, n in counts), default=0) or 1
    label_width = 190
    bars = [
        {
            "label": label,
            "count": n,
            "y": i * (bar + 8),
            "width": max(2, int((width - label_width - 50) * n / top)),
        }
        for i, (label, n) in enumerate(counts)
    ]
    return {
        "bars": bars,
        "height": len(bars) * (bar + 8),
        "width": width,
        "label_width": label_width,
        "bar": bar,
    }


def dashboard(request: StaffRequest) -> HttpResponse:
    if not access.is_bureau_staff(request.user):
        # Data administrators work in the admin site; they get a page of links.
        return render(request, "portal/welcome.html")
    if access.oversees(request.user):
        # A prefecture or the region bureau keeps no queues: its work is the figures.
        return redirect("statistics")
    return _bureau_dashboard(request)


@bureau_staff
def _bureau_dashboard(request: StaffRequest) -> HttpResponse:
    user = request.user
    today = facts.today()
    queues = _queues(
        {
            "reviews": selectors.reviews_waiting(user),
            "filings": selectors.expiring_filings(user, today),
            "letters": selectors.expiring_letters(user, today),
            "reassess": selectors.due_reassessments(user, today),
            "unread": selectors.unread_notifications(user),
        }
    )
    context = {
        "today": today,
        **queues,
        "imports": selectors.imports_awaiting_review(user),
        "moves": list(selectors.moves_to_answer(user)[:QUEUE_ROWS]),
        "recent": selectors.recent_changes(user, limit=12),
        "chart": bar_chart(selectors.patients_by_disease(user, today)),
    }
    return render(request, "cases/dashboard.html", context)


EXPIRING_ROWS = 5000


@bureau_staff
def expiring(request: StaffRequest) -> HttpResponse:
    """The expiry queue: temporary filings and transfer letters ending in the next 30 days
    (and qualifications in the next 60), in full, with export."""
    today = facts.today()
    user = request.user
    rows: list[tuple[str, Patient, str, dt.date]] = []
    for f in selectors.expiring_filings(user, today)[:EXPIRING_ROWS]:
        rows.append(("临时跨省备案", f.patient, f"→ {f.destination.full_name}", f.end or today))
    for t in selectors.expiring_letters(user, today)[:EXPIRING_ROWS]:
        rows.append(("转诊证明", t.patient, f"{t.serial} → {t.receiver.name}", t.end))
    for q in selectors.due_reassessments(user, today)[:EXPIRING_ROWS]:
        rows.append(("门特资格复评", q.patient, q.disease.name, q.valid_until or today))
    rows.sort(key=lambda r: (r[3], r[0]))
    fmt = request.GET.get("export", "")
    if fmt in EXPORT_FORMATS:
        return export(
            request,
            what="到期队列",
            name="到期事项",
            fmt=fmt,
            headers=["类别", "姓名", "证件号码", "内容", "有效期至"],
            rows=lambda unmask: [
                [
                    kind,
                    p.name,
                    p.cert_number if unmask else p.masked_cert_number,
                    what,
                    f"{rules.last_day(end)}",
                ]
                for kind, p, what, end in rows
            ],
        )
    unmask = access.unmasked(request, "到期队列")
    return render(request, "cases/expiring.html", {"rows": rows, "unmask": unmask, "today": today})
