from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Permission
from django.db.models import QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from portal.models import AuditEvent, Bureau, Heartbeat, Role, User
from portal.services import user_sync_role


def bureau_admin_only(request: HttpRequest) -> bool:
    """A bureau administrator manages their own bureau only; data administrators and
    superusers manage every bureau."""
    user = request.user
    return not user.is_superuser and getattr(user, "role", None) == Role.BUREAU_ADMIN


@admin.register(Bureau)
class BureauAdmin(SimpleHistoryAdmin):
    list_display = ["name", "county", "email", "phone", "active"]
    list_filter = ["active"]
    search_fields = ["name", "county__code", "county__name"]
    autocomplete_fields = ["county"]
    list_select_related = ["county"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Bureau]:
        qs = super().get_queryset(request)
        if bureau_admin_only(request):
            return qs.filter(pk=getattr(request.user, "bureau_id", None))
        return qs


BUREAU_ADMIN_FIELDSETS = (
    (None, {"fields": ("username", "password")}),
    ("个人信息", {"fields": ("last_name", "first_name", "email", "phone")}),
    ("角色与权限", {"fields": ("role", "is_active", "user_permissions")}),
)


@admin.register(User)
class UserAdmin(BaseUserAdmin, SimpleHistoryAdmin):
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
        qs = super().get_queryset(request)
        if bureau_admin_only(request):
            return qs.filter(bureau_id=getattr(request.user, "bureau_id", None), is_superuser=False)
        return qs

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if bureau_admin_only(request) and obj is not None:
            return BUREAU_ADMIN_FIELDSETS
        if bureau_admin_only(request):
            return (*BaseUserAdmin.add_fieldsets, ("角色", {"fields": ("role", "phone")}))
        return super().get_fieldsets(request, obj)

    def formfield_for_choice_field(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "role" and bureau_admin_only(request):
            kwargs["choices"] = [(r.value, r.label) for r in Role if r != Role.DATA_ADMIN]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user_permissions" and bureau_admin_only(request):
            # The one permission a bureau administrator hands out: seeing full numbers.
            kwargs["queryset"] = Permission.objects.filter(
                content_type__app_label="cases", codename="unmask_patient"
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if bureau_admin_only(request):
            obj.bureau_id = getattr(request.user, "bureau_id", None)
            obj.is_superuser = False
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # The role decides the groups; done after the m2m save so it is not overwritten.
        user_sync_role(user=form.instance)


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["component", "last_seen_at", "detail"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Heartbeat | None = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "action", "detail"]
    list_filter = ["action"]
    search_fields = ["user__username", "detail"]
    list_select_related = ["user"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        qs = super().get_queryset(request)
        if bureau_admin_only(request):
            return qs.filter(user__bureau_id=getattr(request.user, "bureau_id", None))
        return qs

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False
