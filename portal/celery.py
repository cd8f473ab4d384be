"""The portal's Celery app: configuration comes from Django settings (CELERY_*)."""

import os
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import before_task_publish
from django.conf import settings
from django.utils import timezone

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def make_local_folders(sender: Celery, **_: Any) -> None:
    """The filesystem transport and beat's schedule file need their folders to exist."""

    folders = [Path(settings.CELERY_BEAT_SCHEDULE_FILENAME).parent]
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    folders += [
        Path(options[key])
        for key in ("data_folder_in", "processed_folder", "control_folder")
        if key in options
    ]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)


@before_task_publish.connect
def stamp_sent_at(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Stamp every message with its publish time, so the worker can tell queue latency
    and the status page can tell when beat last sent its heartbeat."""
    if headers is not None:
        headers.setdefault("portal_sent_at", timezone.now().isoformat())
