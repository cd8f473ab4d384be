"""Thin Celery tasks of the portal app: they read the message and call a function."""

from typing import Any

from celery import Task, shared_task

from portal import heartbeat
from portal.imports import purge_pending


@shared_task(name="portal.tasks.heartbeat", bind=True, ignore_result=True)
def heartbeat_task(self: Task[..., Any]) -> None:
    """Records that the worker ran, and (for beat's own messages) when beat sent it."""
    heartbeat.record_run(
        hostname=self.request.hostname or "",
        origin=self.request.get("portal_origin"),
        sent_at=self.request.get("portal_sent_at"),
    )


@shared_task(name="portal.tasks.purge_pending_imports", ignore_result=True)
def purge_pending_imports() -> int:

    return purge_pending()
