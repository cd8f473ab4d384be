"""The authentication backend: Django's ModelBackend with two queries fewer per page."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db.models import Q


class PortalBackend(ModelBackend):
    """Loads the user's bureau with the user (every page shows it) and reads the user's
    own and their groups' permissions in one query instead of two."""

    def get_user(self, user_id: Any) -> Any:
        model = get_user_model()
        try:
            user = model._default_manager.select_related("bureau").get(pk=user_id)
        except model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            permissions = Permission.objects.all()
            if not user_obj.is_superuser:
                model = type(user_obj)
                own = model.user_permissions.through.objects.filter(user_id=user_obj.pk)
                groups = model.groups.through.objects.filter(user_id=user_obj.pk)
                by_group = Group.permissions.through.objects.filter(
                    group_id__in=groups.values("group_id")
                )
                permissions = permissions.filter(
                    Q(pk__in=own.values("permission_id"))
                    | Q(pk__in=by_group.values("permission_id"))
                )
            user_obj._perm_cache = {
                f"{app_label}.{codename}"
                for app_label, codename in permissions.values_list(
                    "content_type__app_label", "codename"
                )
            }
        return set(user_obj._perm_cache)
