"""Case records. The database enforces the invariants that must hold on every write path
(portal, admin, import, shell): certificate checks, the three selection slots, no
overlapping periods, four-eyes review. Writes go through cases.services."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, DateRangeField, RangeOperators
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.db.models import F, Func, Q, Value
from django.utils import timezone
from simple_history.models import HistoricalRecords

from cases import masking, rules
from cases.models.scoping import ScopedModel
from cases.rules import national


def _raise(violations: list[rules.Violation]) -> None:
    """Model clean(): the rules' violations as a ValidationError, by field."""
    if not violations:
        return
    errors: dict[str, list[str]] = {}
    for violation in violations:
        errors.setdefault(violation.field or NON_FIELD_ERRORS, []).append(str(violation))
    raise ValidationError(errors)


class DateRange(Func):
    """daterange(start, end, '[)'): a NULL end is open-ended."""

    function = "daterange"
    output_field = DateRangeField()


def half_open(start: str, end: str) -> DateRange:
    return DateRange(F(start), F(end), Value("[)"))


class ResidentIdValid(Func):
    """The SQL function resident_id_valid(text) from migration 0001 (ID-1 checksum)."""

    function = "resident_id_valid"
    output_field = models.BooleanField()


class Patient(ScopedModel):
    CertType = rules.CertType

    Insurance = rules.InsuranceType

    Sex = rules.Sex

    cert_type = models.CharField(
        "证件类型", max_length=30, choices=CertType.choices, default=CertType.RESIDENT_ID.value
    )
    cert_number = models.CharField("证件号码", max_length=30)
    name = models.CharField("姓名", max_length=50)
    name_pinyin = models.CharField("姓名全拼", max_length=400, blank=True, editable=False)
    name_initials = models.CharField("姓名首字母", max_length=200, blank=True, editable=False)
    birth_date = models.DateField("出生日期", null=True, blank=True)
    sex = models.CharField("性别", max_length=1, choices=Sex.choices, default=Sex.UNKNOWN.value)
    phone = models.CharField("联系电话", max_length=20, blank=True)
    address = models.CharField("联系地址", max_length=200, blank=True)
    insurance_type = models.CharField("险种", max_length=3, choices=Insurance.choices)
    region = models.ForeignKey(
        "institutions.Region",
        verbose_name="参保地（县区）",
        on_delete=models.PROTECT,
        related_name="+",
    )
    bureau = models.ForeignKey(
        "portal.Bureau", verbose_name="经办机构", on_delete=models.PROTECT, related_name="patients"
    )
    created_at = models.DateTimeField("登记时间", auto_now_add=True)
    insured_since = models.DateField(
        "现参保地起始日期",
        null=True,
        blank=True,
        help_text="MV-6：最近一次参保地变更的生效日期；空为登记以来未变更。",
    )
    moved_out_on = models.DateField(
        "转出广西日期", null=True, blank=True, help_text="MV-5：转出后档案只读。"
    )
    psn_no = models.CharField(
        "人员编号",
        max_length=30,
        blank=True,
        default="",
        db_default="",  # rows written by COPY (seeding, batch imports) leave it out
        help_text="NX-1：医保信息平台的人员编号（psn_no）；空为尚未取得。",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = "参保人"
        verbose_name_plural = "参保人"
        ordering = ["-created_at"]
        permissions = [
            ("view_all_patients", "查看所有经办机构的参保人"),
            ("unmask_patient", "查看完整证件号码和电话"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["cert_type", "cert_number"],
                name="patient_unique_certificate",
                violation_error_message="ID-1：该证件号码的参保人已登记。",
            ),
            models.CheckConstraint(
                condition=~Q(cert_type=rules.CertType.RESIDENT_ID)
                | Q(ResidentIdValid("cert_number")),
                name="patient_resident_id_valid",
                violation_error_message="ID-1：居民身份证号不正确。",
            ),
            models.CheckConstraint(
                condition=Q(insurance_type__in=list(rules.InsuranceType)),
                name="patient_insurance_type",
            ),
            models.UniqueConstraint(
                fields=["psn_no"],
                condition=~Q(psn_no=""),
                name="patient_unique_psn_no",
                violation_error_message="NX-1：该人员编号已属于另一位参保人。",
            ),
            models.CheckConstraint(
                condition=Q(psn_no="") | Q(psn_no__regex=national.PSN_NO_RE.pattern),
                name="patient_psn_no_format",
                violation_error_message="NX-1：人员编号应为10–30位数字或大写字母。",
            ),
        ]
        # Search (see cases.search): a term of three characters or more is matched anywhere
        # by trigram; a shorter one (most Chinese names are two or three characters) is
        # matched at the start by a B-tree, within the bureau for clerks.
        indexes = [
            GinIndex(fields=["name"], name="patient_name_trgm", opclasses=["gin_trgm_ops"]),
            GinIndex(
                fields=["name_initials"], name="patient_initials_trgm", opclasses=["gin_trgm_ops"]
            ),
            GinIndex(
                fields=["name_pinyin"], name="patient_pinyin_trgm", opclasses=["gin_trgm_ops"]
            ),
            models.Index(
                fields=["bureau", "name"],
                name="patient_bureau_name",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
            models.Index(
                fields=["bureau", "name_initials"],
                name="patient_bureau_initials",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
            models.Index(
                fields=["name"], name="patient_name_prefix", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(
                fields=["name_initials"],
                name="patient_initials_prefix",
                opclasses=["varchar_pattern_ops"],
            ),
            models.Index(fields=["cert_number"], name="patient_cert_number"),
            models.Index(fields=["bureau", "-created_at"], name="patient_bureau_recent"),
            models.Index(fields=["phone"], name="patient_phone"),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.masked_cert_number}）"

    def clean(self) -> None:
        self.cert_number = rules.normalize_cert_number(self.cert_number)
        _raise(rules.check_certificate(self.cert_type, self.cert_number, timezone.localdate()))

    @property
    def masked_cert_number(self) -> str:
        return masking.mask_cert_number(self.cert_number)

    @property
    def masked_phone(self) -> str:
        return masking.mask_phone(self.phone)


class AgentFields(ScopedModel):
    """An agent (代办人) acting for the patient (FL-9)."""

    channel = models.CharField(
        "办理渠道", max_length=20, choices=rules.Channel.choices, default=rules.Channel.WINDOW.value
    )
    agent_name = models.CharField("代办人姓名", max_length=50, blank=True)
    agent_cert_number = models.CharField("代办人证件号码", max_length=30, blank=True)
    agent_phone = models.CharField("代办人电话", max_length=20, blank=True)
    agent_relation = models.CharField("与参保人关系", max_length=20, blank=True)

    class Meta:
        abstract = True

    @property
    def masked_agent_phone(self) -> str:
        return masking.mask_phone(self.agent_phone)

    @property
    def agent(self) -> rules.Agent:
        return rules.Agent(
            self.agent_name, self.agent_cert_number, self.agent_phone, self.agent_relation
        )


def patient_bureau() -> Any:
    """The patient's bureau on a qualification, filing or transfer letter, copied by a
    database trigger (migration 0005) so that a bureau's queues are read by bureau, not by
    a join over the whole province. Left out of the history: the patient's history has it."""
    return models.ForeignKey(
        "portal.Bureau",
        verbose_name="经办机构",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        editable=False,
        db_index=False,
    )


def platform_serial() -> Any:
    """The platform's 待遇申报明细流水号 for the record (NX-2); empty until registered."""
    return models.CharField(
        "平台流水号",
        max_length=30,
        blank=True,
        default="",
        db_default="",
        help_text="NX-2：医保信息平台的待遇申报明细流水号（trt_dcla_detl_sn）。",
    )


def platform_serial_rules(name: str) -> list[models.BaseConstraint]:
    """NX-2 in the database: the serial's format, and unique among the kind's records."""
    return [
        models.UniqueConstraint(
            fields=["trt_dcla_detl_sn"],
            condition=~Q(trt_dcla_detl_sn=""),
            name=f"{name}_unique_serial",
            violation_error_message="NX-2：该平台流水号已用于另一条记录。",
        ),
        models.CheckConstraint(
            condition=Q(trt_dcla_detl_sn="")
            | Q(trt_dcla_detl_sn__regex=national.SERIAL_RE.pattern),
            name=f"{name}_serial_format",
            violation_error_message="NX-2：待遇申报明细流水号应为6–30位数字或大写字母。",
        ),
    ]


class Qualification(AgentFields):
    Status = rules.QualificationStatus

    patient = models.ForeignKey(
        Patient, verbose_name="参保人", on_delete=models.PROTECT, related_name="qualifications"
    )
    bureau = patient_bureau()
    disease = models.ForeignKey(
        "institutions.Disease", verbose_name="病种", on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        "状态", max_length=20, choices=Status.choices, default=Status.SUBMITTED.value
    )
    applied_on = models.DateField("申请日期")
    diagnosis_institution = models.ForeignKey(
        "institutions.Institution",
        verbose_name="诊断医疗机构",
        on_delete=models.PROTECT,
        related_name="+",
    )
    diagnosis_date = models.DateField("诊断日期")
    diagnosis_doctor = models.CharField("诊断医师", max_length=50)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="录入人", on_delete=models.PROTECT, related_name="+"
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="复核人",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_on = models.DateField("审核日期", null=True, blank=True)
    decision_note = models.CharField("审核意见", max_length=200, blank=True)
    valid_from = models.DateField("资格起始日", null=True, blank=True)
    valid_until = models.DateField(
        "资格终止日", null=True, blank=True, help_text="不再有效的第一天；空为长期有效。"
    )
    renewal_of = models.ForeignKey(
        "self",
        verbose_name="续期自",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="renewals",
    )
    trt_dcla_detl_sn = platform_serial()
    history = HistoricalRecords(excluded_fields=["bureau"])

    class Meta:
        verbose_name = "门特资格认定"
        verbose_name_plural = "门特资格认定"
        ordering = ["-applied_on", "-id"]
        permissions = [("review_qualification", "复核门特资格认定")]
        constraints = [
            *platform_serial_rules("qualification"),
            models.UniqueConstraint(
                fields=["patient", "disease"],
                condition=Q(status=rules.QualificationStatus.SUBMITTED),
                name="qualification_one_submitted",
                violation_error_message="QL-2：该病种已有一份待复核的申请。",
            ),
            ExclusionConstraint(
                name="qualification_no_overlap",
                expressions=[
                    (F("patient"), RangeOperators.EQUAL),
                    (F("disease"), RangeOperators.EQUAL),
                    (half_open("valid_from", "valid_until"), RangeOperators.OVERLAPS),
                ],
                # Approved at some point: an expired or cancelled one still covers its
                # period (POLICY.md, Dates).
                condition=Q(status__in=list(rules.HELD)),
                violation_error_message="QL-2：同一病种不能同时有两个有效的认定资格。",
            ),
            models.CheckConstraint(
                condition=Q(reviewed_by__isnull=True) | ~Q(reviewed_by=F("recorded_by")),
                name="qualification_four_eyes",
                violation_error_message="QL-1：复核人不能是录入人。",
            ),
            models.CheckConstraint(
                condition=~Q(status=rules.QualificationStatus.APPROVED)
                | Q(valid_from__isnull=False),
                name="qualification_approved_has_period",
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True)
                | Q(valid_from__isnull=True)
                | Q(valid_until__gte=F("valid_from")),
                name="qualification_period_order",
            ),
            models.CheckConstraint(
                condition=Q(diagnosis_date__lte=F("applied_on")),
                name="qualification_diagnosis_before_application",
                violation_error_message="QL-5：诊断日期不能晚于申请日期。",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "valid_until"], name="qualification_due"),
            models.Index(
                fields=["bureau", "status", "valid_until"], name="qualification_bureau_due"
            ),
            models.Index(
                fields=["bureau", "status", "disease"],
                include=["valid_from", "valid_until"],
                name="qualification_bureau_disease",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.disease_id} {self.get_status_display()}"

    def clean(self) -> None:
        if self.applied_on:
            _raise(
                rules.check_evidence(
                    applied_on=self.applied_on,
                    diagnosis_date=self.diagnosis_date,
                    diagnosis_institution=(
                        str(self.diagnosis_institution_id)
                        if self.diagnosis_institution_id
                        else None
                    ),
                    diagnosis_doctor=self.diagnosis_doctor,
                    birth_date=self.patient.birth_date if self.patient_id else None,
                )
            )

    @property
    def last_valid_day(self) -> dt.date | None:
        """有效期至: the last covered day (the end date is exclusive)."""
        return rules.last_day(self.valid_until)


class Filing(AgentFields):
    Type = rules.FilingType

    Subtype = rules.FilingSubtype

    Status = rules.FilingStatus

    patient = models.ForeignKey(
        Patient, verbose_name="参保人", on_delete=models.PROTECT, related_name="filings"
    )
    bureau = patient_bureau()
    type = models.CharField("备案类型", max_length=20, choices=Type.choices)
    subtype = models.CharField("人员类别", max_length=30, choices=Subtype.choices)
    destination = models.ForeignKey(
        "institutions.Region",
        verbose_name="就医地",
        on_delete=models.PROTECT,
        related_name="+",
    )
    start = models.DateField("开始日期")
    end = models.DateField("结束日期", null=True, blank=True, help_text="不再有效的第一天。")
    filed_on = models.DateField("办理日期")
    retroactive = models.BooleanField("补办", default=False)
    treatment_start = models.DateField("就医开始日期", null=True, blank=True)
    materials = ArrayField(
        models.CharField(max_length=30, choices=rules.Material.choices),
        verbose_name="备案材料",
        default=list,
        blank=True,
    )
    transfer_letter = models.ForeignKey(
        "TransferLetter",
        verbose_name="转诊证明",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="filings",
    )
    status = models.CharField(
        "状态", max_length=20, choices=Status.choices, default=Status.ACTIVE.value
    )
    cancelled_on = models.DateField("取消日期", null=True, blank=True)
    cancel_reason = models.CharField("取消/变更原因", max_length=200, blank=True)
    replaced_by = models.ForeignKey(
        "self",
        verbose_name="变更为",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="经办人", on_delete=models.PROTECT, related_name="+"
    )
    trt_dcla_detl_sn = platform_serial()
    history = HistoricalRecords(excluded_fields=["bureau"])

    class Meta:
        verbose_name = "跨省异地就医备案"
        verbose_name_plural = "跨省异地就医备案"
        ordering = ["-start", "-id"]
        constraints = [
            *platform_serial_rules("filing"),
            models.CheckConstraint(
                # A long-term filing gets an end only when it is cancelled or changed.
                condition=(
                    Q(type=rules.FilingType.LONG_TERM)
                    & (
                        Q(end__isnull=True)
                        | Q(status__in=[rules.FilingStatus.CANCELLED, rules.FilingStatus.CHANGED])
                    )
                )
                | (Q(type=rules.FilingType.TEMPORARY) & Q(end__isnull=False)),
                name="filing_end_by_type",
                violation_error_message="FL-3/FL-4：临时备案须有结束日期，长期备案不设结束日期。",
            ),
            models.CheckConstraint(
                condition=Q(end__isnull=True) | Q(end__gte=F("start")),
                name="filing_period_order",
            ),
            models.CheckConstraint(
                condition=~Q(subtype=rules.FilingSubtype.TRANSFER)
                | Q(transfer_letter__isnull=False),
                name="filing_transfer_has_letter",
                violation_error_message="FL-6：异地转诊备案须关联转诊证明。",
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        type=rules.FilingType.LONG_TERM,
                        subtype__in=list(rules.SUBTYPES[rules.FilingType.LONG_TERM]),
                    )
                    | Q(
                        type=rules.FilingType.TEMPORARY,
                        subtype__in=list(rules.SUBTYPES[rules.FilingType.TEMPORARY]),
                    )
                ),
                name="filing_subtype_by_type",
                violation_error_message="FL-2：人员类别与备案类型不符。",
            ),
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(type=rules.FilingType.LONG_TERM, status=rules.FilingStatus.ACTIVE),
                name="filing_one_active_long_term",
                violation_error_message="FL-8：参保人已有一份有效的长期备案。",
            ),
            ExclusionConstraint(
                name="filing_temporary_no_overlap",
                expressions=[
                    (F("patient"), RangeOperators.EQUAL),
                    (F("destination"), RangeOperators.EQUAL),
                    (half_open("start", "end"), RangeOperators.OVERLAPS),
                ],
                condition=Q(type=rules.FilingType.TEMPORARY)
                & ~Q(status=rules.FilingStatus.CHANGED),
                violation_error_message="FL-8：同一目的地的临时备案期间不能重叠。",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "type", "end"], name="filing_due"),
            models.Index(fields=["bureau", "status", "type", "end"], name="filing_bureau_due"),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} → {self.destination_id}（{self.get_status_display()}）"

    @property
    def material_labels(self) -> list[str]:
        """The materials received, by their Chinese names (FL-5)."""
        return [rules.Material.labels.get(m, m) for m in self.materials]

    def clean(self) -> None:
        violations = rules.check_materials(self.subtype, self.materials or [])
        violations += rules.check_agent(self.channel, self.agent)
        _raise(violations)


class TransferLetter(ScopedModel):
    Reason = rules.LetterReason

    Status = rules.LetterStatus

    serial = models.CharField("证明编号", max_length=30, unique=True)
    patient = models.ForeignKey(
        Patient, verbose_name="参保人", on_delete=models.PROTECT, related_name="transfer_letters"
    )
    bureau = patient_bureau()
    disease = models.ForeignKey(
        "institutions.Disease", verbose_name="病种", on_delete=models.PROTECT, related_name="+"
    )
    issuer = models.ForeignKey(
        "institutions.Institution",
        verbose_name="开具机构",
        on_delete=models.PROTECT,
        related_name="+",
    )
    receiver = models.ForeignKey(
        "institutions.Institution",
        verbose_name="转入机构",
        on_delete=models.PROTECT,
        related_name="+",
    )
    reason = models.CharField("转诊原因", max_length=20, choices=Reason.choices)
    reason_text = models.CharField("具体原因", max_length=200, blank=True)
    issued_on = models.DateField("开具日期")
    end = models.DateField("有效期终止日", help_text="不再有效的第一天（开具日起6个月）。")
    status = models.CharField(
        "状态", max_length=20, choices=Status.choices, default=Status.ACTIVE.value
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="经办人", on_delete=models.PROTECT, related_name="+"
    )
    trt_dcla_detl_sn = platform_serial()
    history = HistoricalRecords(excluded_fields=["bureau"])

    class Meta:
        verbose_name = "转诊证明"
        verbose_name_plural = "转诊证明"
        ordering = ["-issued_on", "-id"]
        constraints = [
            *platform_serial_rules("letter"),
            models.CheckConstraint(
                condition=~Q(reason=rules.LetterReason.OTHER) | ~Q(reason_text=""),
                name="letter_other_reason_text",
                violation_error_message="TL-2：转诊原因为“其他”时须填写具体原因。",
            ),
            models.CheckConstraint(condition=Q(end__gt=F("issued_on")), name="letter_period_order"),
            models.CheckConstraint(
                condition=~Q(issuer=F("receiver")), name="letter_issuer_is_not_receiver"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "end"], name="letter_due"),
            models.Index(fields=["bureau", "status", "end"], name="letter_bureau_due"),
        ]

    def __str__(self) -> str:
        return self.serial

    def clean(self) -> None:
        if self.reason not in rules.LetterReason.labels:
            _raise([rules.Violation("TL-2", "请选择转诊原因。", "reason")])
        if self.reason == rules.LetterReason.OTHER and not self.reason_text.strip():
            _raise([rules.Violation("TL-2", "转诊原因为“其他”时须填写具体原因。", "reason_text")])


class Selection(ScopedModel):
    Scope = rules.SelectionScope

    patient = models.ForeignKey(
        Patient, verbose_name="参保人", on_delete=models.PROTECT, related_name="selections"
    )
    institution = models.ForeignKey(
        "institutions.Institution",
        verbose_name="选点机构",
        on_delete=models.PROTECT,
        related_name="+",
    )
    slot = models.PositiveSmallIntegerField("选点位")
    start = models.DateField("开始日期")
    end = models.DateField("终止日期", null=True, blank=True, help_text="不再有效的第一天。")
    end_reason = models.CharField("终止原因", max_length=200, blank=True)
    scope = models.CharField("范围", max_length=20, choices=Scope.choices, editable=False)
    basis_filing = models.ForeignKey(
        Filing,
        verbose_name="依据备案",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    basis_letter = models.ForeignKey(
        TransferLetter,
        verbose_name="依据转诊证明",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="经办人", on_delete=models.PROTECT, related_name="+"
    )
    trt_dcla_detl_sn = platform_serial()
    history = HistoricalRecords()

    class Meta:
        verbose_name = "门特选点"
        verbose_name_plural = "门特选点"
        ordering = ["slot", "-start"]
        constraints = [
            *platform_serial_rules("selection"),
            # SL-1 is a count per date, enforced by a trigger (migration 0008). The slot
            # is the ordering clerks see (fix_srt_no): one selection per number at a time.
            models.CheckConstraint(
                condition=Q(slot__gte=1),
                name="selection_slot_positive",
            ),
            ExclusionConstraint(
                name="selection_slot_free",
                expressions=[
                    (F("patient"), RangeOperators.EQUAL),
                    (F("slot"), RangeOperators.EQUAL),
                    (half_open("start", "end"), RangeOperators.OVERLAPS),
                ],
                violation_error_message="SL-1：选点排序号已被占用，请刷新后重试。",
            ),
            # SL-6: the same institution is never selected twice at once.
            ExclusionConstraint(
                name="selection_institution_once",
                expressions=[
                    (F("patient"), RangeOperators.EQUAL),
                    (F("institution"), RangeOperators.EQUAL),
                    (half_open("start", "end"), RangeOperators.OVERLAPS),
                ],
                violation_error_message="SL-6：该机构已是参保人的选点机构。",
            ),
            models.CheckConstraint(
                condition=Q(end__isnull=True) | Q(end__gte=F("start")),
                name="selection_end_not_before_start",
                violation_error_message="SL-6：终止日期不能早于开始日期。",
            ),
            models.CheckConstraint(
                condition=~Q(scope=rules.SelectionScope.CROSS_PROVINCE)
                | Q(basis_filing__isnull=False)
                | Q(basis_letter__isnull=False),
                name="selection_cross_province_basis",
                violation_error_message="SL-4：跨省选点须有备案或转诊证明为依据。",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id}#{self.slot} {self.institution_id}"
