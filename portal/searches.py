"""Search terms kept in the session, so that result pages, their links and exports are
addressed by a random key: no ID number or phone travels in a URL (access logs, Referer
headers, browser history). The portal's patient search and the admin's changelists both
keep their terms here, each in its own bucket, the latest few per bucket."""

from __future__ import annotations

import secrets
from typing import Any

from django.http import HttpRequest

KEPT = 20


def remember(request: HttpRequest, bucket: str, value: Any) -> str:
    """Keep ``value`` in the session's ``bucket``; the key that finds it again."""
    kept = dict(request.session.get(bucket, {}))
    key = secrets.token_urlsafe(8)
    kept[key] = value
    request.session[bucket] = dict(list(kept.items())[-KEPT:])
    return key


def recall(request: HttpRequest, bucket: str, key: str) -> Any:
    """What ``remember`` kept under ``key``, or None (expired or never there)."""
    return request.session.get(bucket, {}).get(key)
