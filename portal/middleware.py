"""Session limits and the two-factor requirement, applied to every page."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

Handler = Callable[[HttpRequest], HttpResponse]


class SessionLimitsMiddleware:
    """Ends a session 10 hours after login whatever happens (the 30-minute idle limit is
    the session cookie's age, renewed on every request)."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            started = request.session.setdefault("login_at", time.time())
            if time.time() - float(started) > settings.SESSION_ABSOLUTE_SECONDS:
                logout(request)
                messages.info(request, "登录已超过10小时，请重新登录。")
                return redirect_to_login(request.get_full_path())
        return self.get_response(request)


def two_factor_required(user: Any) -> bool:
    return bool(user.role in settings.TWO_FACTOR_REQUIRED_ROLES or user.is_superuser)


def has_confirmed_device(user: Any) -> bool:
    from django_otp import user_has_device

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
            and not request.session.get("otp_not_needed")
            and not self.exempt(request)
        ):
            if has_confirmed_device(user):
                return redirect(f"{reverse('two_factor_verify')}?next={request.get_full_path()}")
            if two_factor_required(user):
                return redirect("two_factor_setup")
            # Nothing to verify: remember it, so later requests cost no query.
            request.session["otp_not_needed"] = True
        return self.get_response(request)
