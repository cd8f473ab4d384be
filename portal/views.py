"""Base views of the portal: home and the administrators' status page."""

from django.contrib.auth.decorators import login_not_required, permission_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cases import delivery
from cases.models import JobRun
from portal import heartbeat


@permission_required("portal.view_status", raise_exception=True)
def status(request: HttpRequest) -> HttpResponse:

    return render(
        request,
        "portal/status.html",
        {
            "heartbeats": heartbeat.status(),
            "last_run": JobRun.objects.first(),
            "deliveries": delivery.status_counts(),
        },
    )


@login_not_required
def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin site shares the portal's login page; a signed-in user who is not staff
    is refused rather than sent back to a login page they already passed."""
    if request.user.is_authenticated:
        raise PermissionDenied("数据管理仅限管理员使用。")
    return redirect_to_login(request.GET.get("next", "/admin/"))
