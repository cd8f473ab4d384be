from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from portal.models import Bureau, Heartbeat, User
from portal.services import user_sync_role


@admin.register(Bureau)
class BureauAdmin(SimpleHistoryAdmin):
    list_display = ["name", "county", "email", "phone", "active"]
    list_filter = ["active"]
    search_fields = ["name", "county__code", "county__name"]
    autocomplete_fields = ["county"]
    list_select_related = ["county"]


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
