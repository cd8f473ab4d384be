"""The work dashboard: every queue of the bureau, with counts, and a chart by disease."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.http import HttpResponse
from django.shortcuts import render

from cases import facts, rules, selectors
from cases.access import records_visible_to
from cases.models import Filing, Notification, Qualification, TransferLetter
from cases.views.common import StaffRequest, bureau_staff

QUEUE_ROWS = 10


def _queue(qs: Any) -> dict[str, Any]:
    rows = list(qs[: QUEUE_ROWS + 1])
    return {"rows": rows[:QUEUE_ROWS], "more": len(rows) > QUEUE_ROWS, "count": qs.count()}


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
    if not getattr(request.user, "bureau_id", None):
        # Data administrators work in the admin site; they get a page of links.
        return render(request, "portal/welcome.html")
    return _bureau_dashboard(request)


def expiring_filings(user: Any, today: dt.date, days: int = 30) -> QuerySet[Filing]:
    return (
        records_visible_to(user, Filing.objects.all())
        .filter(
            status="active",
            type="temporary",
            end__gte=today,
            end__lt=today + dt.timedelta(days=days),
        )
        .select_related("patient", "destination")
        .order_by("end", "pk")
    )


def expiring_letters(user: Any, today: dt.date, days: int = 30) -> QuerySet[TransferLetter]:
    return (
        records_visible_to(user, TransferLetter.objects.all())
        .filter(status="active", end__gte=today, end__lt=today + dt.timedelta(days=days))
        .select_related("patient", "receiver")
        .order_by("end", "pk")
    )


def due_reassessments(user: Any, today: dt.date, days: int = 60) -> QuerySet[Qualification]:
    return (
        records_visible_to(user, Qualification.objects.all())
        .filter(
            status="approved",
            valid_until__gte=today,
            valid_until__lt=today + dt.timedelta(days=days),
        )
        .select_related("patient", "disease")
        .order_by("valid_until", "pk")
    )


CHART_SECONDS = 600


def patients_by_disease(user: Any, today: dt.date) -> list[tuple[str, int]]:
    """Current qualifications per disease in the bureau, top ten. A statistic, so it is
    computed at most every ten minutes per bureau (tens of thousands of rows at scale)."""
    key = f"dashboard:by-disease:{user.bureau_id}:{today}"
    found = cache.get(key)
    if found is None:
        found = list(
            records_visible_to(user, Qualification.objects.all())
            .filter(status__in=rules.HELD, valid_from__lte=today)
            .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=today))
            .values_list("disease__name")
            .annotate(n=Count("pk"))
            .order_by("-n")[:10]
        )
        cache.set(key, found, CHART_SECONDS)
    return list(found)


@bureau_staff
def _bureau_dashboard(request: StaffRequest) -> HttpResponse:
    user = request.user
    today = facts.today()
    unread = Notification.objects.filter(user_id=user.pk, read_at__isnull=True).select_related(
        "patient"
    )
    context = {
        "today": today,
        "reviews": _queue(selectors.reviews_waiting(user)),
        "filings": _queue(expiring_filings(user, today)),
        "letters": _queue(expiring_letters(user, today)),
        "reassess": _queue(due_reassessments(user, today)),
        "unread": _queue(unread),
        "recent": selectors.recent_changes(user, limit=12),
        "chart": bar_chart(patients_by_disease(user, today)),
    }
    return render(request, "cases/dashboard.html", context)


@bureau_staff
def expiring(request: StaffRequest) -> HttpResponse:
    """The expiry queue: temporary filings and transfer letters ending in the next 30 days
    (and qualifications in the next 60), in full, with export."""
    from cases.views.common import unmasked
    from cases.views.patients import export_response
    from portal.audit import record_export

    today = facts.today()
    user = request.user
    rows = []
    for f in expiring_filings(user, today)[:5000]:
        rows.append(("临时跨省备案", f.patient, f"→ {f.destination.full_name}", f.end or today))
    for t in expiring_letters(user, today)[:5000]:
        rows.append(("转诊证明", t.patient, f"{t.serial} → {t.receiver.name}", t.end))
    for q in due_reassessments(user, today)[:5000]:
        rows.append(("门特资格复评", q.patient, q.disease.name, q.valid_until or today))
    rows.sort(key=lambda r: (r[3], r[0]))
    fmt = request.GET.get("export")
    unmask = unmasked(request, "到期队列" + ("导出" if fmt else ""))
    if fmt in ("xlsx", "csv"):
        record_export(request.user, "到期队列", len(rows), unmasked=unmask)
        data = [
            [
                kind,
                p.name,
                p.cert_number if unmask else p.masked_cert_number,
                what,
                (end - dt.timedelta(days=1)).isoformat(),
            ]
            for kind, p, what, end in rows
        ]
        return export_response(
            data, ["类别", "姓名", "证件号码", "内容", "有效期至"], "expiring", fmt
        )
    return render(request, "cases/expiring.html", {"rows": rows, "unmask": unmask, "today": today})
