"""The clerk's portal inbox: reminders and notices, each leading to its patient."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse

from cases import selectors
from cases.models import Notification
from cases.services.inbox import notification_read, notifications_read_all
from cases.views.common import StaffRequest

INBOX_PAGE = 30


def record_anchor(notification: Notification) -> str:
    """The section of the patient page that holds the reminder's record."""
    reminder = notification.reminder
    if reminder is None:
        return ""
    if reminder.filing_id:
        return "#filings"
    if reminder.transfer_letter_id:
        return "#letters"
    return "#qualifications"


def inbox(request: StaffRequest) -> HttpResponse:
    """Newest first, unread ones marked; each opens its patient's record."""
    page = Paginator(selectors.inbox(request.user), INBOX_PAGE).get_page(request.GET.get("page"))
    return render(request, "cases/inbox.html", {"page": page})


def inbox_read(request: StaffRequest, pk: int) -> HttpResponse:
    """Mark a message read; with ``open``, go on to the record it is about."""
    # Another user's message is a 404 before the method is even looked at.
    notification = selectors.notification_get(request.user, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    notification_read(by=request.user, notification=notification)
    if request.POST.get("open"):
        url = reverse("patient_detail", args=[notification.patient_id])
        return redirect(url + record_anchor(notification))
    return redirect("inbox")


def inbox_read_all(request: StaffRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    count = notifications_read_all(by=request.user)
    messages.success(request, f"已将 {count} 条消息标为已读。")
    return redirect("inbox")
