"""Reference data every case record points at: regions, diseases, institutions, parameters."""

from __future__ import annotations

import datetime as dt

from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Substr
from simple_history.models import HistoricalRecords

from cases import rules
from cases.rules import check_institution_code, national, parameters
from institutions.validators import (
    DISEASE_CODE_RE,
    DIVISION_CODE_RE,
    INSTITUTION_CODE_RE,
    validate_disease_code,
    validate_division_code,
    validate_institution_code,
)

GUANGXI_CODE = "450000"
# Province-level municipalities: a filing to one of them names the province code (FL-1).
MUNICIPALITY_CODES = frozenset({"110000", "120000", "310000", "500000"})


class Region(models.Model):
    """An administrative division (GB/T 2260, ID-2). Historical codes are kept, inactive."""

    Level = rules.DivisionLevel

    code = models.CharField(
        "区划代码", max_length=6, primary_key=True, validators=[validate_division_code]
    )
    name = models.CharField("名称", max_length=50)
    full_name = models.CharField("全称", max_length=120)
    level = models.PositiveSmallIntegerField("级别", choices=Level.choices)
    kind = models.CharField("类型", max_length=20, blank=True)
    parent = models.ForeignKey(
        "self",
        verbose_name="上级",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    prefecture = models.ForeignKey(
        "self",
        verbose_name="所属地级",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="县级区划所属的地级市（直辖市的区县属于直辖市本身）；省级为空。",
    )
    active = models.BooleanField(
        "现行", default=True, help_text="撤销或更名前的历史代码为非现行，仍可出现在身份证号中。"
    )
    abolished_year = models.PositiveSmallIntegerField("停用年份", null=True, blank=True)

    class Meta:
        verbose_name = "行政区划"
        verbose_name_plural = "行政区划"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(code__regex=DIVISION_CODE_RE), name="region_code_format"
            ),
        ]
        indexes = [
            GinIndex(fields=["name"], name="region_name_trgm", opclasses=["gin_trgm_ops"]),
        ]

    def __str__(self) -> str:
        suffix = "" if self.active else "（历史）"
        return f"{self.code} {self.full_name}{suffix}"

    @property
    def province_code(self) -> str:
        return self.code[:2] + "0000"

    @property
    def in_guangxi(self) -> bool:
        return self.province_code == GUANGXI_CODE


class Disease(models.Model):
    """A 门特 disease of the catalogue (ID-4), with its validity rule (QL-3)."""

    Validity = rules.Validity

    code = models.CharField(
        "病种编码", max_length=6, unique=True, validators=[validate_disease_code]
    )
    name = models.CharField("病种名称", max_length=100)
    cross_province = models.BooleanField(
        "跨省直接结算",
        default=False,
        help_text="国家跨省门诊慢特病直接结算病种（ID-4、ST-5）。",
    )
    validity = models.CharField(
        "资格有效期", max_length=20, choices=Validity.choices, default=Validity.OPEN.value
    )
    validity_months = models.PositiveSmallIntegerField(
        "有效月数", null=True, blank=True, help_text="有效期为“按月数”时填写（QL-3）。"
    )
    for_employee = models.BooleanField("适用职工医保（310）", default=True)
    for_resident = models.BooleanField("适用城乡居民医保（390）", default=True)
    exclusive_with = models.ManyToManyField(
        "self", verbose_name="互斥病种", blank=True, symmetrical=True
    )
    active = models.BooleanField("启用", default=True)
    note = models.CharField("备注", max_length=200, blank=True)
    # The platform catalogue's versions and per-scheme table of the disease as the last
    # 1309 import wrote them (DiseaseListing, DiseaseScheme), kept on the row so that a
    # check reads them with the disease (NX-5): {"listings": [[ver, valid, from, until]],
    # "schemes": [[insutype, end]]}, dates ISO, None open-ended. Empty: a seed disease.
    platform_catalogue = models.JSONField("平台目录", default=dict, blank=True, editable=False)
    history = HistoricalRecords(excluded_fields=["exclusive_with", "platform_catalogue"])

    class Meta:
        verbose_name = "门特病种"
        verbose_name_plural = "门特病种"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(code__regex=DISEASE_CODE_RE), name="disease_code_format"
            ),
            models.CheckConstraint(
                condition=(
                    Q(validity=rules.Validity.MONTHS, validity_months__gte=1)
                    | (~Q(validity=rules.Validity.MONTHS) & Q(validity_months__isnull=True))
                ),
                name="disease_validity_months",
                violation_error_message="QL-3：仅“按月数”有效的病种填写有效月数（至少1个月）。",
            ),
            models.CheckConstraint(
                condition=Q(for_employee=True) | Q(for_resident=True),
                name="disease_some_insurance",
                violation_error_message="ID-5：病种至少适用一种险种。",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def catalogue_facts(self) -> dict[str, object]:
        """DiseaseFacts' listings and scheme ends, from ``platform_catalogue``."""
        kept = self.platform_catalogue or {}
        if not kept.get("listings"):
            return {}

        def day(value: str | None) -> dt.date | None:
            return dt.date.fromisoformat(value) if value else None

        listings = tuple(
            national.Listing(ver, valid, rules.Period(day(start) or dt.date.min, day(end)))
            for ver, valid, start, end in kept["listings"]
        )
        schemes = kept.get("schemes")
        ends = tuple((insutype, day(end)) for insutype, end in schemes) if schemes else None
        return {"listings": listings, "scheme_ends": ends}

    def clean(self) -> None:
        if self.validity == self.Validity.MONTHS and not self.validity_months:
            raise ValidationError({"validity_months": "QL-3：按月数有效的病种须填写有效月数。"})
        if self.validity != self.Validity.MONTHS and self.validity_months:
            raise ValidationError({"validity_months": "QL-3：只有按月数有效的病种才填写有效月数。"})


class InstitutionQuerySet(models.QuerySet["Institution"]):
    def designated_on(self, day: dt.date) -> InstitutionQuerySet:
        return self.filter(
            Q(designated=True),
            Q(designated_from__isnull=True) | Q(designated_from__lte=day),
            Q(designated_until__isnull=True) | Q(designated_until__gt=day),
        )


class Institution(models.Model):
    """A designated medical institution or pharmacy (定点医药机构, ID-3)."""

    class Grade(models.TextChoices):
        A = "甲", "甲等"
        B = "乙", "乙等"
        C = "丙", "丙等"
        NONE = "未定", "未定等"

    code = models.CharField(
        "机构编码", max_length=12, unique=True, validators=[validate_institution_code]
    )
    name = models.CharField("机构名称", max_length=120)
    location = models.ForeignKey(
        Region,
        verbose_name="所在县区",
        on_delete=models.PROTECT,
        related_name="institutions",
        limit_choices_to={"level": Region.Level.COUNTY},
    )
    address = models.CharField("地址", max_length=200, blank=True)
    level = models.PositiveSmallIntegerField(
        "医院等级", choices=[(1, "一级"), (2, "二级"), (3, "三级")], default=2
    )
    grade = models.CharField("等次", max_length=2, choices=Grade.choices, default=Grade.NONE)
    designated = models.BooleanField("定点", default=True)
    designated_from = models.DateField("定点起始日", null=True, blank=True)
    designated_until = models.DateField(
        "定点终止日", null=True, blank=True, help_text="不再定点的第一天（不含）。"
    )
    transfer_issuer = models.BooleanField(
        "可开具转诊证明", default=False, help_text="TL-1：须为二级及以上的定点医院。"
    )
    diseases: models.ManyToManyField[Disease, NetworkedSettlement] = models.ManyToManyField(
        Disease, through="NetworkedSettlement", verbose_name="联网结算病种", blank=True
    )
    history = HistoricalRecords()

    objects = InstitutionQuerySet.as_manager()

    class Meta:
        verbose_name = "定点医药机构"
        verbose_name_plural = "定点医药机构"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(code__regex=INSTITUTION_CODE_RE),
                name="institution_code_format",
                violation_error_message="ID-3：机构编码应为H或P加11位数字。",
            ),
            models.CheckConstraint(
                condition=Q(location_id=Substr("code", 2, 6)),
                name="institution_code_matches_location",
                violation_error_message="ID-3：机构编码第2–7位应为所在县区的区划代码。",
            ),
            models.CheckConstraint(
                condition=Q(level__gte=1, level__lte=3), name="institution_level_range"
            ),
            models.CheckConstraint(
                condition=Q(designated_from__isnull=True)
                | Q(designated_until__isnull=True)
                | Q(designated_until__gt=models.F("designated_from")),
                name="institution_designation_period",
                violation_error_message="定点终止日应晚于起始日。",
            ),
        ]
        indexes = [
            GinIndex(fields=["name"], name="institution_name_trgm", opclasses=["gin_trgm_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def is_pharmacy(self) -> bool:
        return self.code.startswith("P")

    def designated_on(self, day: dt.date) -> bool:
        return (
            self.designated
            and (self.designated_from is None or self.designated_from <= day)
            and (self.designated_until is None or day < self.designated_until)
        )

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.code and self.location_id:
            for violation in check_institution_code(self.code, self.location_id):
                errors["code"] = str(violation)
        if (
            self.designated_from
            and self.designated_until
            and self.designated_until <= self.designated_from
        ):
            errors["designated_until"] = "定点终止日应晚于起始日。"
        if self.transfer_issuer and self.code and self.is_pharmacy:
            errors["transfer_issuer"] = "TL-1：药店不能开具转诊证明。"
        if errors:
            raise ValidationError(errors)


class NetworkedSettlement(models.Model):
    """Whether an institution has opened networked 门特 settlement for a disease (ST-4)."""

    institution = models.ForeignKey(
        Institution,
        verbose_name="机构",
        on_delete=models.CASCADE,
        related_name="networked_settlements",
    )
    disease = models.ForeignKey(
        Disease, verbose_name="病种", on_delete=models.PROTECT, related_name="+"
    )
    in_region = models.BooleanField("区内联网结算", default=False)
    cross_province = models.BooleanField("跨省联网结算", default=False)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "门特联网结算开通"
        verbose_name_plural = "门特联网结算开通"
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "disease"],
                name="networked_settlement_unique",
                violation_error_message="该机构的此病种已有联网结算记录。",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.institution_id}/{self.disease_id}"


class PolicyParameter(models.Model):
    """One value of a policy parameter, in force from ``valid_from`` until the next one."""

    key = models.CharField(
        "参数",
        max_length=40,
        choices=[(key, f"{spec.rule} {spec.label}") for key, spec in parameters.SPECS.items()],
    )
    value = models.JSONField("取值")
    valid_from = models.DateField("生效日期")
    note = models.CharField("依据/备注", max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "政策参数"
        verbose_name_plural = "政策参数"
        ordering = ["key", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["key", "valid_from"],
                name="policy_parameter_unique_day",
                violation_error_message="同一参数同一生效日期只能有一个取值。",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key}={self.value}（{self.valid_from} 起）"

    def clean(self) -> None:
        if self.key:
            try:
                self.value = parameters.clean_value(self.key, self.value)
            except parameters.ParameterError as exc:
                raise ValidationError({"value": [str(exc)]}) from exc


class DiseaseListing(models.Model):
    """A disease as one version of the platform's catalogue (1309 download) lists it
    (NX-5): a check for a day uses the version in force that day."""

    disease = models.ForeignKey(
        Disease, verbose_name="病种", on_delete=models.CASCADE, related_name="listings"
    )
    ver = models.CharField("版本号（ver）", max_length=30)
    ver_name = models.CharField("版本名称（ver_name）", max_length=100, blank=True)
    name = models.CharField("病种名称（opsp_dise_name）", max_length=100)
    majcls_code = models.CharField("大类代码", max_length=20, blank=True)
    majcls_name = models.CharField("大类名称", max_length=100, blank=True)
    subd_clss_name = models.CharField("细分类名称", max_length=100, blank=True)
    admdvs = models.CharField("医保区划（admdvs）", max_length=6, blank=True)
    valid = models.BooleanField("有效（vali_flag）", default=True)
    efft_time = models.DateField("生效日期")
    invd_time = models.DateField(
        "失效日期", null=True, blank=True, help_text="不再生效的第一天；空为长期。"
    )
    imported_at = models.DateTimeField("导入时间", auto_now=True)

    class Meta:
        verbose_name = "平台病种目录版本"
        verbose_name_plural = "平台病种目录版本"
        ordering = ["disease", "-efft_time", "-ver"]
        constraints = [
            models.UniqueConstraint(fields=["disease", "ver"], name="disease_listing_unique_ver"),
            models.CheckConstraint(
                condition=Q(invd_time__isnull=True) | Q(invd_time__gte=models.F("efft_time")),
                name="disease_listing_period_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.disease_id} {self.ver}"


class DiseaseScheme(models.Model):
    """Per scheme: the disease applies to this insurance type until ``end`` (NX-5, ID-5),
    from the platform's per-scheme table."""

    disease = models.ForeignKey(
        Disease, verbose_name="病种", on_delete=models.CASCADE, related_name="schemes"
    )
    insutype = models.CharField(
        "险种（insutype）", max_length=3, choices=rules.InsuranceType.choices
    )
    end = models.DateField("终止日期", null=True, blank=True, help_text="不再适用的第一天。")

    class Meta:
        verbose_name = "病种适用险种"
        verbose_name_plural = "病种适用险种"
        ordering = ["disease", "insutype"]
        constraints = [
            models.UniqueConstraint(fields=["disease", "insutype"], name="disease_scheme_unique")
        ]

    def __str__(self) -> str:
        return f"{self.disease_id}/{self.insutype}"
