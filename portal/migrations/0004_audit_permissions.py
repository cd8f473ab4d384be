"""Administrators may read the audit log."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.get(content_type__app_label="portal", codename="view_auditevent")
    for name in ("经办机构管理员", "数据管理员"):
        Group.objects.get(name=name).permissions.add(view)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    view = Permission.objects.filter(content_type__app_label="portal", codename="view_auditevent")
    for group in Group.objects.filter(name__in=("经办机构管理员", "数据管理员")):
        group.permissions.remove(*view)


class Migration(migrations.Migration):
    dependencies = [("portal", "0003_audit_event")]
    operations = [migrations.RunPython(grant, revoke)]
