"""Accounts: staff users, the county bureaus they belong to, and the worker heartbeat."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from cases import rules


class Bureau(models.Model):
    """A medical-insurance bureau (医疗保障局) serving one division of Guangxi. A county
    bureau keeps its county's cases (ID-6); a prefecture or the region bureau oversees
    the counties under it, read-only. The level is the division code's (ID-2)."""

    name = models.CharField("经办机构名称", max_length=100, unique=True)
    # Named for the casework level; a prefecture or region bureau holds its division here.
    county = models.OneToOneField(
        "institutions.Region",
        verbose_name="服务区划",
        on_delete=models.PROTECT,
        related_name="bureau",
        limit_choices_to={"code__startswith": "45", "active": True},
        help_text="县级为经办机构；地级市、自治区为监管机构（只读查看其下各县区）。",
    )
    email = models.EmailField("通知邮箱", blank=True)
    phone = models.CharField("联系电话", max_length=30, blank=True)
    active = models.BooleanField("启用", default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "医保经办机构"
        verbose_name_plural = "医保经办机构"
        ordering = ["county_id"]

    def __str__(self) -> str:
        return self.name

    @property
    def level(self) -> rules.DivisionLevel | None:
        """County, prefecture or region, from the division code (ID-2)."""
        return rules.division_level(self.county_id or "")

    @property
    def keeps_cases(self) -> bool:
        """A county bureau records cases; the levels above only oversee them."""
        return self.level == rules.DivisionLevel.COUNTY

    @property
    def area_prefix(self) -> str:
        """The division codes under this bureau start with this (ID-2)."""
        return rules.division_prefix(self.county_id or "")


class Role(models.TextChoices):
    CLERK = "clerk", "经办"
    REVIEWER = "reviewer", "复核"
    BUREAU_ADMIN = "bureau_admin", "经办机构管理员"
    DATA_ADMIN = "data_admin", "数据管理员"
    SUPERVISOR = "supervisor", "监管"


# Each role is backed by a group of the same name (created by migration 0002), so that
# permissions are granted by role, never by hand per user.
ROLE_GROUPS: dict[str, str] = {
    Role.CLERK: "经办",
    Role.REVIEWER: "复核",
    Role.BUREAU_ADMIN: "经办机构管理员",
    Role.DATA_ADMIN: "数据管理员",
    Role.SUPERVISOR: "监管",
}

# Who works at which level: casework at a county bureau, oversight above it.
COUNTY_ROLES = (Role.CLERK, Role.REVIEWER)
OVERSIGHT_ROLES = (Role.SUPERVISOR,)


def chinese_name(family: str | None, given: str | None) -> str:
    """Family name first and no space between, as Chinese names are written."""
    return f"{(family or '').strip()}{(given or '').strip()}"


def role_fits(role: str, bureau: Bureau) -> bool:
    """Casework roles belong to a county bureau, oversight above it."""
    if role in COUNTY_ROLES:
        return bureau.keeps_cases
    if role in OVERSIGHT_ROLES:
        return not bureau.keeps_cases
    return True


class User(AbstractUser):
    """A staff user. Everyone but a data administrator works for exactly one bureau."""

    bureau = models.ForeignKey(
        Bureau,
        verbose_name="所属经办机构",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="staff",
    )
    role = models.CharField("角色", max_length=20, choices=Role.choices, default=Role.CLERK)
    phone = models.CharField("手机号", max_length=20, blank=True)
    history = HistoricalRecords(excluded_fields=["last_login", "password"])

    class Meta:
        verbose_name = "工作人员"
        verbose_name_plural = "工作人员"
        constraints = [
            models.CheckConstraint(
                condition=Q(role=Role.DATA_ADMIN) | Q(bureau__isnull=False),
                name="user_bureau_required_for_bureau_roles",
                violation_error_message="经办、复核和经办机构管理员必须属于一个经办机构。",
            ),
        ]

    def clean(self) -> None:
        super().clean()
        bureau = self.bureau if self.bureau_id else None
        if bureau is None or role_fits(self.role, bureau):
            return
        if self.role in COUNTY_ROLES:
            raise ValidationError({"role": "经办、复核人员必须属于县级经办机构。"})
        raise ValidationError({"role": "监管人员必须属于地级市或自治区医疗保障局。"})

    def get_full_name(self) -> str:
        """A Chinese name: family name first, no space (韦小明)."""
        return chinese_name(self.last_name, self.first_name)

    @property
    def role_label(self) -> str:
        return Role(self.role).label


class Heartbeat(models.Model):
    """When a background component last proved it was alive (status page)."""

    class Component(models.TextChoices):
        WORKER = "worker", "Celery 工作进程"
        BEAT = "beat", "Celery 定时调度（beat）"

    component = models.CharField("组件", max_length=20, choices=Component.choices, unique=True)
    last_seen_at = models.DateTimeField("最近一次")
    detail = models.CharField("说明", max_length=200, blank=True)

    class Meta:
        verbose_name = "后台心跳"
        verbose_name_plural = "后台心跳"
        permissions = [("view_status", "查看系统状态页")]

    def __str__(self) -> str:
        return f"{self.get_component_display()} {self.last_seen_at:%Y-%m-%d %H:%M:%S}"


class AuditEvent(models.Model):
    """Things that are not record changes but must be traceable: exports, prints, unmasking."""

    user = models.ForeignKey(
        User, verbose_name="用户", on_delete=models.PROTECT, related_name="audit_events"
    )
    action = models.CharField("操作", max_length=30)
    detail = models.CharField("内容", max_length=300, blank=True)
    created_at = models.DateTimeField("时间", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "审计记录"
        verbose_name_plural = "审计记录"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user_id} {self.action} {self.detail}"


class PendingImport(models.Model):
    """An uploaded spreadsheet between an import's dry run and its confirmation (the
    import's temporary storage, portal.imports): in the database, so that any web node
    can confirm it, bound to the user who uploaded it, and purged when left unconfirmed."""

    name = models.CharField("编号", max_length=32, unique=True)
    user = models.ForeignKey(
        User, verbose_name="上传人", on_delete=models.CASCADE, related_name="pending_imports"
    )
    data = models.BinaryField("文件内容")
    created_at = models.DateTimeField("上传时间", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "待确认的导入文件"
        verbose_name_plural = "待确认的导入文件"

    def __str__(self) -> str:
        return self.name
