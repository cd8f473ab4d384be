"""Base views of the portal: home and the administrators' status page."""

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from portal import heartbeat


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/home.html")


@permission_required("portal.view_status", raise_exception=True)
def status(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/status.html", {"heartbeats": heartbeat.status()})
