"""The portal inbox: reading messages (RM-4's portal channel)."""

from __future__ import annotations

from django.utils import timezone

from cases import access
from cases.models import Notification
from portal.models import User


def notification_read(*, by: User, notification: Notification) -> None:
    """Mark one of the user's messages read (once)."""
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])


def notifications_read_all(*, by: User) -> int:
    """Mark every unread message of the user read; returns how many."""
    return access.notifications(by).filter(read_at__isnull=True).update(read_at=timezone.now())
