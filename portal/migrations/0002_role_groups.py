"""One group per role, with the permissions that role has (not granted by hand)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLE_PERMISSIONS = {
    "经办": [],
    "复核": [],
    "经办机构管理员": [
        "portal.view_status",
        "portal.view_user",
        "portal.add_user",
        "portal.change_user",
        "portal.view_bureau",
    ],
    "数据管理员": [
        "portal.view_status",
        "portal.view_heartbeat",
        "portal.view_bureau",
        "portal.add_bureau",
        "portal.change_bureau",
        "portal.view_user",
        "portal.add_user",
        "portal.change_user",
        *[
            f"institutions.{action}_{model}"
            for model in (
                "region",
                "disease",
                "institution",
                "networkedsettlement",
                "policyparameter",
            )
            for action in ("view", "add", "change", "delete")
        ],
    ],
}


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations; make sure they exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codes in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = []
        for code in codes:
            app_label, codename = code.split(".")
            perms.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(perms)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0001_initial"),
        ("institutions", "0002_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
