"""What every clerk page shares: who may use it, and how it answers."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from cases import access
from cases.access import can_unmask, unmasked
from portal.models import User


class StaffRequest(HttpRequest):
    """A request from a signed-in staff user (every page but login requires one)."""

    user: User


def bureau_staff(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Pages for the staff of a bureau (reading); other users get a 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not getattr(request.user, "bureau_id", None):
            raise PermissionDenied("此页面仅供经办机构工作人员使用。")
        return view(request, *args, **kwargs)

    return wrapper


def recorder(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Pages that change case records: clerks, reviewers and bureau administrators."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not access.may_record(request.user):
            raise PermissionDenied("您没有录入门特业务的权限。")
        return view(request, *args, **kwargs)

    return wrapper


__all__ = ["StaffRequest", "bureau_staff", "can_unmask", "recorder", "unmasked"]
