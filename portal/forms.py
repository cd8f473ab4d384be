"""The login form, with a ceiling on failures per username across all addresses."""

from __future__ import annotations

import datetime as dt

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.utils import timezone


def username_ceiling_reached(username: str) -> bool:
    """django-axes locks a username at one address after AXES_FAILURE_LIMIT failures,
    so that one office behind a shared address is not locked out together. This is the
    ceiling over every address: AXES_USERNAME_CEILING failures within the cool-off time
    lock the account itself, wherever the next attempt comes from."""

    since = timezone.now() - dt.timedelta(hours=settings.AXES_COOLOFF_TIME)
    failures = AccessAttempt.objects.filter(username=username, attempt_time__gte=since).aggregate(
        total=Sum("failures_since_start")
    )["total"]
    return bool(failures and failures >= settings.AXES_USERNAME_CEILING)


class PortalLoginForm(AuthenticationForm):
    def clean(self) -> dict[str, object]:
        username = self.cleaned_data.get("username")
        if username and username_ceiling_reached(str(username)):
            raise ValidationError(
                "该账户登录失败次数过多，已暂时锁定，请稍后再试或联系管理员。",
                code="username_ceiling",
            )
        return super().clean()
