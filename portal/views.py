"""Base views of the portal: home and the administrators' status page."""

import time

from django.contrib.auth.decorators import login_not_required, permission_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from cases import delivery
from cases.models import JobRun
from portal import heartbeat, replica


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


@login_not_required
@never_cache
def live(request: HttpRequest) -> HttpResponse:
    """Liveness for a load balancer: the process answers (nothing else is asked)."""
    return JsonResponse({"status": "live"})


def _database() -> str:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return f"down: {type(exc).__name__}"
    return "ok"


def _broker() -> str:
    from portal.celery import app  # noqa: PLC0415 - only this check needs the broker

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"down: {type(exc).__name__}"
    return "ok"


@login_not_required
@never_cache
def ready(request: HttpRequest) -> HttpResponse:
    """Readiness: 503 when the primary database does not answer. The broker and the
    replica are reported; a broker outage fails readiness only with ``?strict=1``, since
    pages keep working without it (writes keep their tasks in the outbox) and taking
    every node out would turn a broker outage into a full one."""
    started = time.monotonic()
    checks = {"database": _database(), "broker": _broker()}
    if replica.configured():
        checks["replica"] = "ok" if replica.usable() else f"primary only: {replica.health.reason}"
    failing = checks["database"] != "ok" or (
        request.GET.get("strict") == "1" and checks["broker"] != "ok"
    )
    body = {
        "status": "unready" if failing else "ready",
        **checks,
        "ms": round((time.monotonic() - started) * 1000, 1),
    }
    return JsonResponse(body, status=503 if failing else 200)
