from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from cases import access
from portal.admin_base import HistoryAdmin, ScopedAdmin
from portal.models import AuditEvent, Bureau, Heartbeat, User
from portal.services import user_sync_role


@admin.register(Bureau)
class BureauAdmin(HistoryAdmin):
    list_display = ["name", "county", "email", "phone", "active"]
    list_filter = ["active"]
    search_fields = ["name", "county__code", "county__name"]
    autocomplete_fields = ["county"]
    list_select_related = ["county"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Bureau]:
        return access.bureaus(request.user, super().get_queryset(request))


ACCOUNT_FIELDSETS = (
    (None, {"fields": ("username", "password")}),
    ("个人信息", {"fields": ("last_name", "first_name", "email", "phone")}),
)
BUREAU_ADMIN_FIELDSETS = (
    *ACCOUNT_FIELDSETS,
    ("角色与权限", {"fields": ("role", "is_active", "user_permissions")}),
)
# A data administrator: everything but superuser status, staff status (it follows the
# role) and groups (the role decides them).
DATA_ADMIN_FIELDSETS = (
    *ACCOUNT_FIELDSETS,
    ("经办机构与角色", {"fields": ("bureau", "role", "is_active", "user_permissions")}),
    ("重要日期", {"fields": ("last_login", "date_joined")}),
)


@admin.register(User)
class UserAdmin(BaseUserAdmin[User], HistoryAdmin):
    """Staff accounts. Every path that edits one (add, change, password) goes through
    portal.access: nobody but a superuser grants superuser or staff status, or a role or
    permission they do not hold themselves, or touches an account that holds more."""

    # Plain multiple selects: the stock two-box widget labels its spans with aria-label,
    # which ARIA forbids on them (axe: aria-prohibited-attr).
    filter_horizontal = ()
    list_display = ["username", "last_name", "first_name", "role", "bureau", "is_active"]
    list_filter = ["role", "is_active", "is_staff"]
    search_fields = ["username", "first_name", "last_name", "bureau__name"]
    list_select_related = ["bureau"]
    autocomplete_fields = ["bureau"]
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        ("经办机构与角色", {"fields": ("bureau", "role", "phone")}),
    )
    add_fieldsets = (
        *BaseUserAdmin.add_fieldsets,
        ("经办机构与角色", {"fields": ("bureau", "role", "phone")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return access.staff(request.user, super().get_queryset(request))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or access.may_manage(request.user, obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or access.may_manage(request.user, obj))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        # Nobody edits these: shown, not offered as inputs (for superusers too).
        if obj is not None:
            fields += ["last_login", "date_joined"]
        return fields

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if request.user.is_superuser:
            return super().get_fieldsets(request, obj)
        if obj is None:
            bureau = () if access.is_bureau_admin(request.user) else ("bureau",)
            return (*BaseUserAdmin.add_fieldsets, ("角色", {"fields": (*bureau, "role", "phone")}))
        return (
            BUREAU_ADMIN_FIELDSETS if access.is_bureau_admin(request.user) else DATA_ADMIN_FIELDSETS
        )

    def formfield_for_choice_field(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "role" and not request.user.is_superuser:
            kwargs["choices"] = [(r.value, r.label) for r in access.grantable_roles(request.user)]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user_permissions":
            kwargs["queryset"] = access.grantable_permissions(request.user)
        elif db_field.name == "groups":
            kwargs["queryset"] = access.grantable_groups(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if not request.user.is_superuser:
            # Never from a form of a non-superuser, whatever was posted.
            stored = User.objects.filter(pk=obj.pk).values("is_superuser").first()
            obj.is_superuser = bool(stored and stored["is_superuser"])
            if access.is_bureau_admin(request.user):
                obj.bureau_id = getattr(request.user, "bureau_id", None)
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # The role decides the groups; done after the m2m save so it is not overwritten.
        user_sync_role(user=form.instance)
        # The last word, whatever the form offered: the account now holds nothing the
        # administrator does not (the admin's change view is one transaction).
        if not access.may_manage(request.user, form.instance):
            raise PermissionDenied("不能授予超出本人权限的角色或权限。")


@admin.register(Heartbeat)
class HeartbeatAdmin(ScopedAdmin):
    list_display = ["component", "last_seen_at", "detail"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Heartbeat | None = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ScopedAdmin):
    list_display = ["created_at", "user", "action", "detail"]
    list_filter = ["action"]
    search_fields = ["user__username", "detail"]
    list_select_related = ["user"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        return access.audit_events(request.user, super().get_queryset(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False
