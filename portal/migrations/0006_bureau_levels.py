"""Bureaus at every level: a county bureau keeps cases, a prefecture or the region bureau
oversees them (the 监管 role, read-only). Statistics for every bureau's staff."""

import django.db.models.deletion
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

READ = [
    f"cases.view_{model}"
    for model in ("patient", "qualification", "selection", "filing", "transferletter", "reminder")
]
GRANTS = {
    "监管": [*READ, "cases.view_statistics"],
    "经办": ["cases.view_statistics"],
    "复核": ["cases.view_statistics"],
    "经办机构管理员": ["cases.view_statistics"],
}


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codes in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for code in codes:
            app_label, codename = code.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    Group.objects.filter(name="监管").delete()
    for group in Group.objects.filter(name__in=GRANTS):
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="cases", codename="view_statistics")
        )


class Migration(migrations.Migration):

    dependencies = [
        ('institutions', '0003_move_parameters'),
        ('portal', '0005_pending_import'),
        ('cases', '0012_statistics'),
    ]

    operations = [
        migrations.AlterField(
            model_name='bureau',
            name='county',
            field=models.OneToOneField(help_text='县级为经办机构；地级市、自治区为监管机构（只读查看其下各县区）。', limit_choices_to={'active': True, 'code__startswith': '45'}, on_delete=django.db.models.deletion.PROTECT, related_name='bureau', to='institutions.region', verbose_name='服务区划'),
        ),
        migrations.AlterField(
            model_name='historicalbureau',
            name='county',
            field=models.ForeignKey(blank=True, db_constraint=False, help_text='县级为经办机构；地级市、自治区为监管机构（只读查看其下各县区）。', limit_choices_to={'active': True, 'code__startswith': '45'}, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='institutions.region', verbose_name='服务区划'),
        ),
        migrations.AlterField(
            model_name='historicaluser',
            name='role',
            field=models.CharField(choices=[('clerk', '经办'), ('reviewer', '复核'), ('bureau_admin', '经办机构管理员'), ('data_admin', '数据管理员'), ('supervisor', '监管')], default='clerk', max_length=20, verbose_name='角色'),
        ),
        migrations.AlterField(
            model_name='user',
            name='role',
            field=models.CharField(choices=[('clerk', '经办'), ('reviewer', '复核'), ('bureau_admin', '经办机构管理员'), ('data_admin', '数据管理员'), ('supervisor', '监管')], default='clerk', max_length=20, verbose_name='角色'),
        ),
        migrations.RunPython(grant, revoke),
    ]
