"""Recording what users see and take out of the portal (exports, prints)."""

from __future__ import annotations

import logging

from portal.models import AuditEvent, User

logger = logging.getLogger("portal.audit")


def record(user: User, action: str, detail: str) -> None:
    AuditEvent.objects.create(user=user, action=action, detail=detail[:300])
    logger.info("%s %s %s", user.username, action, detail)


def record_export(user: User, what: str, rows: int, *, unmasked: bool) -> None:
    record(user, "export", f"{what}：{rows} 行{'（含完整证件号码）' if unmasked else ''}")


def record_print(user: User, what: str) -> None:
    record(user, "print", what)
