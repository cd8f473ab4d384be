"""Import/export of reference data (django-import-export), used by the admin.

Columns are headed in Chinese, exactly as exported, so an export opened in Excel, edited
and imported again round-trips. Every row is fully validated (model clean, field
validators and database constraints) before anything is written.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from import_export import fields, resources, widgets
from import_export.instance_loaders import CachedInstanceLoader, ModelInstanceLoader

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
    """A foreign key by code, with a Chinese message when the code is unknown.

    Lookups are memoised for the duration of one import (a file of 30,000 institutions
    names a few hundred counties); ``reset()`` is called before each import.
    """

    def __init__(self, model: Any, field: str, label: str) -> None:
        super().__init__(model, field=field)
        self.label = label
        self._cache: dict[str, Any] = {}

    def reset(self) -> None:
        self._cache = {}

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Any:
        if value in ("", None):
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        value = str(value).strip().upper()
        if value not in self._cache:
            try:
                self._cache[value] = super().clean(value, row, **kwargs)
            except self.model.DoesNotExist:
                self._cache[value] = None
        if self._cache[value] is None:
            raise ValueError(f"{self.label}“{value}”不存在。")
        return self._cache[value]


class CodeWidget(widgets.CharWidget):
    """Codes read from Excel may arrive as numbers or with spaces; keep them as text."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip().upper()


class TextWidget(widgets.CharWidget):
    """Text cells: an empty cell is an empty string (text columns are never NULL)."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip()


class CompositeKeyLoader(ModelInstanceLoader):
    """Finds an existing row by several codes; an unknown code means a new row, whose
    validation then reports the unknown code next to its column."""

    def get_instance(self, row: Any) -> Any:
        try:
            return super().get_instance(row)
        except ValueError:
            return None


class ReferenceResource(resources.ModelResource):
    """Shared import behaviour: one query to find existing rows, memoised foreign keys,
    full validation in Python, duplicates inside the file reported as bad rows, and
    writes in batches with one history record per imported row, by the importing user.

    The database constraints mirror the checks run here (field validators and the
    model's clean()), so they are not queried once per row; they still guard the save.
    """

    class Meta:
        abstract = True
        clean_model_instances = True
        skip_unchanged = True
        skip_html_diff = True
        report_skipped = False
        import_id_fields: tuple[str, ...] = ("code",)
        instance_loader_class: type[ModelInstanceLoader] = CachedInstanceLoader
        use_bulk = True
        batch_size = 1000

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        super().before_import(dataset, **kwargs)
        self._seen_ids: set[tuple[Any, ...]] = set()
        self._user = kwargs.get("user")
        for field in self.fields.values():
            if isinstance(field.widget, StrictForeignKeyWidget):
                field.widget.reset()

    def _foreign_keys_from_widgets(self) -> list[str]:
        # The widget already found the referenced row; full_clean need not look again.
        return [
            field.attribute
            for field in self.fields.values()
            if isinstance(field.widget, StrictForeignKeyWidget) and field.attribute
        ]

    def bulk_create(
        self,
        using_transactions: bool,
        dry_run: bool,
        raise_errors: bool,
        batch_size: int | None = None,
        result: Any = None,
    ) -> None:
        created = list(self.create_instances)
        super().bulk_create(using_transactions, dry_run, raise_errors, batch_size, result)
        self._record_history(created, update=False)

    def bulk_update(
        self,
        using_transactions: bool,
        dry_run: bool,
        raise_errors: bool,
        batch_size: int | None = None,
        result: Any = None,
    ) -> None:
        updated = list(self.update_instances)
        super().bulk_update(using_transactions, dry_run, raise_errors, batch_size, result)
        self._record_history(updated, update=True)

    def _record_history(self, objs: list[Any], *, update: bool) -> None:
        # After a failed batch the transaction is broken and the import is reported failed.
        if objs and not transaction.get_connection().needs_rollback:
            self._meta.model.history.bulk_history_create(
                objs,
                batch_size=1000,
                update=update,
                default_user=self._user,
                default_change_reason="批量导入",
            )

    def validate_instance(
        self,
        instance: Any,
        import_validation_errors: dict[str, Any] | None = None,
        validate_unique: bool = True,
    ) -> None:
        errors = dict(import_validation_errors or {})
        try:
            instance.full_clean(
                exclude=[*errors.keys(), *self._foreign_keys_from_widgets()],
                validate_unique=False,
                validate_constraints=False,
            )
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        meta = instance._meta
        key = tuple(
            getattr(instance, meta.get_field(self.fields[name].attribute).attname)
            for name in self.get_import_id_fields()
        )
        if None not in key and key in self._seen_ids:
            errors.setdefault("__all__", []).append("文件中已有同一编码的行，重复行未导入。")
        self._seen_ids.add(key)
        if errors:
            raise ValidationError(errors)


class DiseaseResource(ReferenceResource):
    code = fields.Field("code", "病种编码", widget=CodeWidget())
    name = fields.Field("name", "病种名称", widget=TextWidget())
    cross_province = fields.Field("cross_province", "跨省直接结算", widget=ChineseBooleanWidget())
    validity = fields.Field("validity", "资格有效期", widget=TextWidget())
    validity_months = fields.Field("validity_months", "有效月数", widget=widgets.IntegerWidget())
    for_employee = fields.Field("for_employee", "适用职工医保", widget=ChineseBooleanWidget())
    for_resident = fields.Field("for_resident", "适用城乡居民医保", widget=ChineseBooleanWidget())
    active = fields.Field("active", "启用", widget=ChineseBooleanWidget())
    note = fields.Field("note", "备注", widget=TextWidget())

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
    name = fields.Field("name", "机构名称", widget=TextWidget())
    location = fields.Field(
        "location", "所在县区代码", widget=StrictForeignKeyWidget(Region, "code", "区划代码")
    )
    address = fields.Field("address", "地址", widget=TextWidget())
    level = fields.Field("level", "医院等级", widget=widgets.IntegerWidget())
    grade = fields.Field("grade", "等次", widget=TextWidget())
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


class NetworkedSettlementResource(ReferenceResource):
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

    class Meta(ReferenceResource.Meta):
        model = NetworkedSettlement
        import_id_fields = ("institution", "disease")
        instance_loader_class = CompositeKeyLoader
        fields = ("institution", "disease", "in_region", "cross_province")

    def get_queryset(self) -> Any:
        return super().get_queryset().select_related("institution", "disease")
