"""What the navigation of every page shows: the user's unread messages, and whether the
user's bureau keeps cases (a county's) or oversees them (a prefecture's, the region's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

from cases import access, selectors


def inbox(request: HttpRequest) -> dict[str, Any]:
    """``unread_count``, counted only when a page shows it (one query)."""
    user = request.user
    if not access.is_bureau_staff(user):
        return {}
    count: Callable[[], int] = lambda: selectors.unread_count(user)  # noqa: E731
    return {"unread_count": count, "casework": access.keeps_cases(user)}
