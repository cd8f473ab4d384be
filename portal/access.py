"""Who may manage which staff account, and what they may hand out.

The rule that keeps administration from being a way up: a user who is not a superuser
manages only accounts that hold nothing they do not hold themselves, and grants only
roles and permissions they hold. Superuser and staff status are a superuser's to give
(staff status otherwise follows the role). A bureau administrator, in addition, manages
only their own bureau's staff and hands out one permission, the unmasking of numbers.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db.models import Q, QuerySet

from portal.models import ROLE_GROUPS, Role, User

# What a bureau administrator may hand out besides a role.
BUREAU_ADMIN_GRANTS = ("cases.unmask_patient",)


def is_bureau_admin(user: Any) -> bool:
    """A bureau administrator (not a superuser): confined to their own bureau."""
    return not user.is_superuser and getattr(user, "role", None) == Role.BUREAU_ADMIN


def permission_names(permissions: QuerySet[Permission]) -> set[str]:
    return {
        f"{app}.{code}"
        for app, code in permissions.values_list("content_type__app_label", "codename")
    }


def role_permissions(role: str) -> set[str]:
    return permission_names(Permission.objects.filter(group__name=ROLE_GROUPS[role]))


def held_permissions(user: User) -> set[str]:
    """The permissions a stored account holds now, read afresh from the database."""
    if user.is_superuser:
        return permission_names(Permission.objects.all())
    return permission_names(
        Permission.objects.filter(user=user) | Permission.objects.filter(group__user=user)
    ).union(role_permissions(user.role))


def may_grant(actor: Any, permissions: set[str]) -> bool:
    return bool(actor.is_superuser or permissions <= actor.get_all_permissions())


def grantable_roles(actor: Any) -> list[Role]:
    return [role for role in Role if may_grant(actor, role_permissions(role))]


def grantable_permissions(actor: Any) -> QuerySet[Permission]:
    """The permissions ``actor`` may give a user directly."""
    if actor.is_superuser:
        return Permission.objects.all()
    names = set(BUREAU_ADMIN_GRANTS) if is_bureau_admin(actor) else actor.get_all_permissions()
    wanted = Q(pk__in=[])
    for name in names & actor.get_all_permissions():
        app_label, codename = name.split(".", 1)
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    return Permission.objects.filter(wanted)


def grantable_groups(actor: Any) -> QuerySet[Group]:
    if actor.is_superuser:
        return Group.objects.all()
    return Group.objects.filter(name__in=[ROLE_GROUPS[r] for r in grantable_roles(actor)])


def staff_visible_to(actor: Any, queryset: QuerySet[User]) -> QuerySet[User]:
    """Accounts an administrator sees: a superuser all; anyone else no superuser; a
    bureau administrator only their own bureau's."""
    if actor.is_superuser:
        return queryset
    queryset = queryset.filter(is_superuser=False)
    if is_bureau_admin(actor):
        return queryset.filter(bureau_id=actor.bureau_id)
    return queryset


def may_manage(actor: Any, target: User) -> bool:
    """Whether ``actor`` may change ``target`` (its details, password, role, rights)."""
    if actor.is_superuser:
        return True
    if target.is_superuser:
        return False
    if is_bureau_admin(actor) and target.bureau_id != actor.bureau_id:
        return False
    return may_grant(actor, held_permissions(target))
