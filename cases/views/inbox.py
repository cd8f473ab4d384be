"""Clerk pages of the cases app (the full portal grows here)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils import timezone

from cases import selectors
from cases.views.common import StaffRequest


def inbox(request: StaffRequest) -> HttpResponse:
    """The clerk's portal inbox: reminders and notices, newest first."""
    page = Paginator(selectors.inbox(request.user), 30).get_page(request.GET.get("page"))
    return render(request, "cases/inbox.html", {"page": page})


def inbox_read(request: StaffRequest, pk: int) -> HttpResponse:
    # Another user's message is a 404 before the method is even looked at.
    notification = selectors.notification_get(request.user, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return redirect("inbox")
