"""Case permissions for the role groups created by portal/0002."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

RECORD = [
    f"cases.{action}_{model}"
    for model in ("patient", "qualification", "selection", "filing", "transferletter")
    for action in ("view", "add", "change")
] + ["cases.view_reminder"]

GRANTS = {
    "经办": RECORD,
    "复核": [*RECORD, "cases.review_qualification"],
    "经办机构管理员": [*RECORD, "cases.review_qualification", "cases.unmask_patient"],
}


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codes in GRANTS.items():
        group = Group.objects.get(name=name)
        for code in codes:
            app_label, codename = code.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=GRANTS):
        group.permissions.remove(*group.permissions.filter(content_type__app_label="cases"))


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0001_initial"),
        ("portal", "0002_role_groups"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
