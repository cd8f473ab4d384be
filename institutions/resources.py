"""Import/export of reference data (django-import-export), used by the admin.

Columns are headed in Chinese, exactly as exported, so an export opened in Excel, edited
and imported again round-trips. Every row is fully validated (model clean, field
validators and database constraints) before anything is written.
"""

from __future__ import annotations

from typing import Any

from import_export import fields, resources, widgets

from institutions.models import Disease, Institution, NetworkedSettlement, Region


class ChineseBooleanWidget(widgets.BooleanWidget):
    """Reads 是/否 as well as 1/0 and true/false; writes 是/否."""

    TRUE_VALUES = ["是", "1", 1, True, "true", "TRUE", "True", "Y", "y"]
    FALSE_VALUES = ["否", "0", 0, False, "false", "FALSE", "False", "N", "n"]

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return "是" if value else "否"

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> bool:
        if value in ("", None):
            return False
        if isinstance(value, str):
            value = value.strip()
        if value in self.TRUE_VALUES:
            return True
        if value in self.FALSE_VALUES:
            return False
        raise ValueError(f"应填“是”或“否”，而不是“{value}”。")


class StrictForeignKeyWidget(widgets.ForeignKeyWidget):
    """A foreign key by code, with a Chinese message when the code is unknown."""

    def __init__(self, model: Any, field: str, label: str) -> None:
        super().__init__(model, field=field)
        self.label = label

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Any:
        if value in ("", None):
            return None
        value = str(value).strip()
        try:
            return super().clean(value, row, **kwargs)
        except self.model.DoesNotExist:
            raise ValueError(f"{self.label}“{value}”不存在。") from None


class CodeWidget(widgets.CharWidget):
    """Codes read from Excel may arrive as numbers or with spaces; keep them as text."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip().upper()


class ReferenceResource(resources.ModelResource):
    class Meta:
        abstract = True
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = False
        import_id_fields = ("code",)


class DiseaseResource(ReferenceResource):
    code = fields.Field("code", "病种编码", widget=CodeWidget())
    name = fields.Field("name", "病种名称")
    cross_province = fields.Field("cross_province", "跨省直接结算", widget=ChineseBooleanWidget())
    validity = fields.Field("validity", "资格有效期")
    validity_months = fields.Field("validity_months", "有效月数", widget=widgets.IntegerWidget())
    for_employee = fields.Field("for_employee", "适用职工医保", widget=ChineseBooleanWidget())
    for_resident = fields.Field("for_resident", "适用城乡居民医保", widget=ChineseBooleanWidget())
    active = fields.Field("active", "启用", widget=ChineseBooleanWidget())
    note = fields.Field("note", "备注")

    class Meta(ReferenceResource.Meta):
        model = Disease
        fields = (
            "code",
            "name",
            "cross_province",
            "validity",
            "validity_months",
            "for_employee",
            "for_resident",
            "active",
            "note",
        )


class InstitutionResource(ReferenceResource):
    code = fields.Field("code", "机构编码", widget=CodeWidget())
    name = fields.Field("name", "机构名称")
    location = fields.Field(
        "location", "所在县区代码", widget=StrictForeignKeyWidget(Region, "code", "区划代码")
    )
    address = fields.Field("address", "地址")
    level = fields.Field("level", "医院等级", widget=widgets.IntegerWidget())
    grade = fields.Field("grade", "等次")
    designated = fields.Field("designated", "定点", widget=ChineseBooleanWidget())
    designated_from = fields.Field(
        "designated_from", "定点起始日", widget=widgets.DateWidget("%Y-%m-%d")
    )
    designated_until = fields.Field(
        "designated_until", "定点终止日", widget=widgets.DateWidget("%Y-%m-%d")
    )
    transfer_issuer = fields.Field(
        "transfer_issuer", "可开具转诊证明", widget=ChineseBooleanWidget()
    )

    class Meta(ReferenceResource.Meta):
        model = Institution
        fields = (
            "code",
            "name",
            "location",
            "address",
            "level",
            "grade",
            "designated",
            "designated_from",
            "designated_until",
            "transfer_issuer",
        )

    def get_queryset(self) -> Any:
        return super().get_queryset().select_related("location")


class NetworkedSettlementResource(resources.ModelResource):
    institution = fields.Field(
        "institution",
        "机构编码",
        widget=StrictForeignKeyWidget(Institution, "code", "机构编码"),
    )
    disease = fields.Field(
        "disease", "病种编码", widget=StrictForeignKeyWidget(Disease, "code", "病种编码")
    )
    in_region = fields.Field("in_region", "区内联网结算", widget=ChineseBooleanWidget())
    cross_province = fields.Field("cross_province", "跨省联网结算", widget=ChineseBooleanWidget())

    class Meta:
        model = NetworkedSettlement
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = False
        import_id_fields = ("institution", "disease")
        fields = ("institution", "disease", "in_region", "cross_province")

    def get_queryset(self) -> Any:
        return super().get_queryset().select_related("institution", "disease")
