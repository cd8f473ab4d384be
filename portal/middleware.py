"""Session limits, the two-factor requirement and the scope guard, applied to every page."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import MiddlewareNotUsed
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django_otp import user_has_device

from cases.models.scoping import guarded
from portal.models import User

Handler = Callable[[HttpRequest], HttpResponse]


class ScopeGuardMiddleware:
    """Serves each request inside cases.models.scoping.guarded: a case-record query
    that cases.access did not scope fails instead of reading every bureau."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with guarded(request.path):
            return self.get_response(request)


class SessionLimitsMiddleware:
    """Ends a session 10 hours after login whatever happens, and after 30 minutes idle:
    the session's expiry (SESSION_COOKIE_AGE) is renewed by saving it, which is done at
    most once every SESSION_REFRESH_SECONDS rather than on every request (a write and a
    commit per page view otherwise)."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            session = request.session
            started = session.setdefault("login_at", now)
            if now - float(started) > settings.SESSION_ABSOLUTE_SECONDS:
                logout(request)
                messages.info(request, "登录已超过10小时，请重新登录。")
                return redirect_to_login(request.get_full_path())
            if now - float(session.get("seen_at", 0)) >= settings.SESSION_REFRESH_SECONDS:
                session["seen_at"] = now  # modified: saved with a new expiry
        return self.get_response(request)


def two_factor_required(user: User) -> bool:
    return bool(user.role in settings.TWO_FACTOR_REQUIRED_ROLES or user.is_superuser)


def has_confirmed_device(user: User) -> bool:
    return bool(user_has_device(user, confirmed=True))


class TwoFactorMiddleware:
    """A user with a second factor must use it after the password; data and bureau
    administrators must set one up before anything else."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def exempt(self, request: HttpRequest) -> bool:
        path = request.path
        open_paths = [
            reverse("login"),
            reverse("logout"),
            reverse("two_factor_verify"),
            reverse("two_factor_setup"),
        ]
        return path in open_paths or path.startswith(
            settings.STATIC_URL
            if settings.STATIC_URL.startswith("/")
            else "/" + settings.STATIC_URL
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and not user.is_verified()  # type: ignore[attr-defined]  # set by OTPMiddleware
            and not self.exempt(request)
        ):
            # The requirement follows the role the user has now (loaded with every
            # request), so a clerk promoted to administrator mid-session must set up a
            # second factor before the next page.
            required = two_factor_required(user)
            if required or not request.session.get("otp_not_needed"):
                if has_confirmed_device(user):
                    return redirect(
                        f"{reverse('two_factor_verify')}?next={request.get_full_path()}"
                    )
                if required:
                    return redirect("two_factor_setup")
                # Nothing to verify: remember it, so later requests cost no query.
                request.session["otp_not_needed"] = True
        return self.get_response(request)


class NoStoreMiddleware:
    """Nothing a signed-in user is shown is kept by a browser or proxy cache: pages with
    personal data, exports, prints and the two-factor set-up page (which shows the TOTP
    secret) alike. Static files are served elsewhere and stay cacheable."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.user.is_authenticated or request.path.startswith("/accounts/"):
            add_never_cache_headers(response)
        return response


class ServerTimingMiddleware:
    """Adds a ``Server-Timing`` header with the server's time for the request and its SQL
    query count (``app;dur=12.3, db;dur=4.1;desc="7"``), for the benchmark and for
    operators' browser tools. Off unless ``SERVER_TIMING`` is set; first in MIDDLEWARE so
    the figure covers every other middleware."""

    def __init__(self, get_response: Handler) -> None:
        if not settings.SERVER_TIMING:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        counter = _QueryCounter()
        started = time.perf_counter()
        with connection.execute_wrapper(counter):
            response = self.get_response(request)
        elapsed = (time.perf_counter() - started) * 1000
        response["Server-Timing"] = (
            f'app;dur={elapsed:.2f}, db;dur={counter.seconds * 1000:.2f};desc="{counter.count}"'
        )
        return response


class _QueryCounter:
    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.count += 1
            self.seconds += time.perf_counter() - started
