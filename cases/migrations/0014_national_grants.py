"""Data administrators keep the platform's code tables and catalogue (NX-4, NX-5); the
code tables start with the portal's defaults (cases.rules.national.DEFAULT_CODES as of
this migration), so that they are seen, and changed, in the admin."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "数据管理员": [
        *[f"cases.{action}_codemapping" for action in ("view", "add", "change", "delete")],
        "institutions.view_diseaselisting",
        "institutions.view_diseasescheme",
    ],
}

DEFAULTS = {
    "psn_cert_type": {
        "resident_id": ("01", "居民身份证（户口簿）"),
        "hk_macau_permit": ("04", "港澳居民来往内地通行证/居住证"),
        "taiwan_permit": ("06", "台湾居民来往大陆通行证/居住证"),
        "foreign_permanent_resident": ("07", "外国人永久居留身份证"),
        "passport": ("08", "外国人护照"),
    },
    "gend": {"M": ("1", "男"), "F": ("2", "女"), "U": ("9", "未说明的性别")},
    "insutype": {"310": ("310", "职工基本医疗保险"), "390": ("390", "城乡居民基本医疗保险")},
    "rloc_rea": {
        "retired_resettled": ("11", "本系统默认，请按本省代码核对"),
        "long_term_resident": ("12", "本系统默认，请按本省代码核对"),
        "posted_worker": ("13", "本系统默认，请按本省代码核对"),
        "transfer": ("21", "本系统默认，请按本省代码核对"),
        "emergency": ("22", "本系统默认，请按本省代码核对"),
        "other": ("23", "本系统默认，请按本省代码核对"),
    },
    "dcla_souc": {
        "window": ("01", "本系统默认，请按本省代码核对"),
        "app": ("02", "本系统默认，请按本省代码核对"),
        "mini_program": ("03", "本系统默认，请按本省代码核对"),
        "phone": ("04", "本系统默认，请按本省代码核对"),
    },
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
    CodeMapping = apps.get_model("cases", "CodeMapping")
    for kind, values in DEFAULTS.items():
        for value, (code, note) in values.items():
            CodeMapping.objects.get_or_create(
                kind=kind, portal_value=value, defaults={"platform_code": code, "note": note}
            )


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name__in=GRANTS):
        group.permissions.remove(
            *Permission.objects.filter(
                codename__in=["view_diseaselisting", "view_diseasescheme"]
                + [f"{a}_codemapping" for a in ("view", "add", "change", "delete")]
            )
        )
    apps.get_model("cases", "CodeMapping").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("cases", "0013_national_exchange"), ("portal", "0006_bureau_levels")]

    operations = [migrations.RunPython(grant, revoke)]
