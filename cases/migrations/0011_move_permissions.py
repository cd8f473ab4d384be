"""Who may see transfer requests and insured-county histories in the admin site (MV-1):
the bureau staff their bureau's, data administrators every request."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

STAFF = ["cases.view_moverequest", "cases.view_insuredperiod"]
GRANTS = {
    "经办": STAFF,
    "复核": STAFF,
    "经办机构管理员": STAFF,
    "数据管理员": ["cases.view_moverequest"],
}


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codes in GRANTS.items():
        for group in Group.objects.filter(name=name):
            for code in codes:
                app_label, codename = code.split(".")
                group.permissions.add(
                    Permission.objects.get(content_type__app_label=app_label, codename=codename)
                )


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name__in=GRANTS):
        group.permissions.remove(
            *Permission.objects.filter(
                content_type__app_label="cases",
                codename__in=["view_moverequest", "view_insuredperiod"],
            )
        )


class Migration(migrations.Migration):
    dependencies = [("cases", "0010_moves")]

    operations = [migrations.RunPython(grant, revoke)]
