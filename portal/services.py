"""Writes on accounts and bureaus."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction

from portal.models import ROLE_GROUPS, Bureau, Role, User


@transaction.atomic
def user_sync_role(*, user: User) -> None:
    """Make the user's role groups match their role, and admin-site access follow it."""
    role_groups = Group.objects.filter(name__in=ROLE_GROUPS.values())
    user.groups.remove(*role_groups.exclude(name=ROLE_GROUPS[user.role]))
    user.groups.add(Group.objects.get(name=ROLE_GROUPS[user.role]))
    staff = user.role in (Role.DATA_ADMIN, Role.BUREAU_ADMIN) or user.is_superuser
    if user.is_staff != staff:
        user.is_staff = staff
        user.save(update_fields=["is_staff"])


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str,
    role: str,
    bureau: Bureau | None,
    full_name: str = "",
    email: str = "",
) -> User:
    user = User(username=username, role=role, bureau=bureau, email=email)
    if full_name:
        user.last_name, user.first_name = full_name[:1], full_name[1:]
    user.set_password(password)
    user.full_clean()
    user.save()
    user_sync_role(user=user)
    return user
