"""Liveness of the background components, shown on the status page."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from portal.models import Heartbeat


def record_run(*, hostname: str, origin: str | None, sent_at: str | None) -> None:
    now = timezone.now()
    Heartbeat.objects.update_or_create(
        component=Heartbeat.Component.WORKER,
        defaults={"last_seen_at": now, "detail": hostname[:200]},
    )
    if origin == "beat":
        sent = _parse(sent_at) or now
        Heartbeat.objects.update_or_create(
            component=Heartbeat.Component.BEAT,
            defaults={"last_seen_at": sent, "detail": "定时任务已按计划发出"},
        )


def _parse(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if timezone.is_aware(parsed) else None


def status() -> list[tuple[str, Heartbeat | None]]:
    """Each component's label with its last heartbeat (None if it never ran)."""
    beats = {hb.component: hb for hb in Heartbeat.objects.all()}
    return [(label, beats.get(value)) for value, label in Heartbeat.Component.choices]
