"""Two-factor login: TOTP set-up with recovery codes, and the verification step."""

from __future__ import annotations

import base64
import io
import secrets
from typing import Any

import qrcode
import qrcode.image.svg
from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import login as otp_login
from django_otp import match_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal import audit
from portal.middleware import has_confirmed_device
from portal.models import User

RECOVERY_CODES = 10


class TokenForm(forms.Form):
    token = forms.CharField(
        label="动态验证码或恢复码",
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )


def _qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode()
    # Inline in an HTML page: without the XML declaration, which HTML does not have.
    return svg.split("?>", 1)[1].lstrip() if svg.startswith("<?xml") else svg


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/"


def verify(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = match_token(request.user, form.cleaned_data["token"].replace(" ", ""))
        if device is not None:
            otp_login(request, device)
            return redirect(_safe_next(request))
        form.add_error("token", "验证码不正确或已使用。")
    return render(
        request, "registration/two_factor_verify.html", {"form": form, "next": _safe_next(request)}
    )


def setup(request: HttpRequest) -> HttpResponse:
    """Create (or continue) an unconfirmed TOTP device; confirming it with a code from the
    app turns it on and shows ten one-time recovery codes, once.

    A user who already has a confirmed device reaches this page only after passing it in
    this session (the password alone never enrols a second factor). Enrolling again then
    replaces the old authenticator and recovery codes, which the page says before and
    after, and the audit log records."""

    user: Any = request.user
    replacing = has_confirmed_device(user)
    if replacing and not user.is_verified():
        return redirect(f"{reverse('two_factor_verify')}?next={reverse('two_factor_setup')}")
    device = TOTPDevice.objects.filter(
        user=user, confirmed=False
    ).first() or TOTPDevice.objects.create(user=user, name="手机验证器", confirmed=False)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"].replace(" ", "")):
            codes = _enrol(user, device)
            audit.record(
                user,
                "two_factor",
                "更换验证器，原验证器和恢复码已作废" if replacing else "开启两步验证",
            )
            otp_login(request, device)
            messages.success(
                request,
                "已更换验证器，原验证器和原恢复码已作废。" if replacing else "两步验证已开启。",
            )
            return render(request, "registration/two_factor_codes.html", {"codes": codes})
        form.add_error("token", "验证码不正确，请确认手机时间准确后重试。")
    return render(
        request,
        "registration/two_factor_setup.html",
        {
            "form": form,
            "replacing": replacing,
            "qr": _qr_svg(device.config_url),
            "secret": base64.b32encode(device.bin_key).decode().rstrip("="),
            "config_url": device.config_url,
        },
    )


@transaction.atomic
def _enrol(user: User, device: TOTPDevice) -> list[str]:
    """Turn ``device`` on as the user's only authenticator, with new recovery codes."""
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save()
    static, _ = StaticDevice.objects.get_or_create(user=user, name="恢复码")
    static.token_set.all().delete()
    codes = [secrets.token_hex(4) for _ in range(RECOVERY_CODES)]
    for code in codes:
        StaticToken.objects.create(device=static, token=code)
    return codes
