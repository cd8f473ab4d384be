"""Forms for the clerk's pages. They only shape input: the rules are checked by the
services, whose refusals are shown next to the fields (see ``show_refusal``)."""

from __future__ import annotations

import datetime as dt
import unicodedata
from html import escape as html_escape
from typing import Any, cast

from django import forms
from django.db.models import Q
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from cases import access, rules
from cases.facts import today
from cases.models import Filing, Patient, TransferLetter
from cases.services import PolicyRefusal
from cases.statistics import Criteria
from institutions.models import Disease, Institution, Region


class FastSelect(forms.Select):
    """A <select> rendered in Python: Django renders each <option> through a template,
    which for a list such as the disease catalogue costs more than the rest of the page.
    Same markup and attributes as forms.Select (no option groups)."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        final = self.build_attrs(self.attrs, attrs)
        selected = {str(v) for v in self.format_value(value)}
        options = []
        for option_value, label in self.choices:
            key = "" if option_value is None else str(option_value)
            mark = " selected" if key in selected else ""
            # The standard library's escape: format_html per option costs several times more.
            options.append(
                f'<option value="{html_escape(key)}"{mark}>{html_escape(str(label))}</option>'
            )
        return format_html(
            '<select name="{}"{}>{}</select>',
            name,
            forms.utils.flatatt(final),
            mark_safe("".join(options)),  # noqa: S308 - each option escaped above
        )


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class LastDayField(forms.DateField):
    """有效期至 as clerks write it, the last valid day. It is cleaned to the half-open end
    the records and rules keep (the day after), and an end given as initial value (a
    record's, or today's for "ends today") is shown as its last day: the conversion
    happens here and nowhere else in a form."""

    widget = DateInput

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dt.date):
            value = rules.last_day(value)
        return super().prepare_value(value)

    def clean(self, value: Any) -> dt.date | None:
        last = super().clean(value)
        if last is None:
            return None
        if last >= dt.date.max:
            raise forms.ValidationError("日期超出范围。")
        return rules.end_after(last)


def rule_link(rule_id: str) -> SafeString:
    return format_html('<a href="{}#{}">{}</a>', reverse("policy"), rule_id, rule_id)


def violation_html(violation: rules.Violation) -> SafeString:
    """A refusal as shown to the clerk: the rule ID linked to the policy page, then why."""
    return mark_safe(f"{rule_link(violation.rule)}：{escape(violation.message)}")  # noqa: S308 - parts escaped above


def show_refusal(
    form: forms.Form, refusal: PolicyRefusal, field_map: dict[str, str] | None = None
) -> None:
    """Put each violated rule next to its field (or above the form)."""
    field_map = field_map or {}
    for violation in refusal.violations:
        name = field_map.get(violation.field or "", violation.field)
        form.add_error(name if name in form.fields else None, violation_html(violation))


class CodeField(forms.CharField):
    """Codes typed by clerks: full-width characters and spaces are normalised."""

    def to_python(self, value: Any) -> str:
        return rules.normalize_cert_number(super().to_python(value) or "")


class InstitutionField(forms.ModelChoiceField[Institution]):
    """An institution chosen by its code (typed, or picked from the autocomplete list)."""

    widget = forms.TextInput(
        attrs={
            "list": "institution-options",
            "autocomplete": "off",
            "data-autocomplete": "institutions",
            "placeholder": "机构编码或名称",
        }
    )
    default_error_messages = {"invalid_choice": "ID-3：没有这个编码或名称的定点医药机构。"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            queryset=Institution.objects.select_related("location"), to_field_name="code", **kwargs
        )

    def to_python(self, value: Any) -> Any:
        """A code (and whatever follows it, as the autocomplete shows it) or, typed in
        full, the one institution of that name."""
        if value in self.empty_values:
            return None
        text = unicodedata.normalize("NFKC", str(value)).strip().replace("\x00", "")
        token = text.split()[0].upper() if text else ""
        institutions = Institution.objects.select_related("location")
        found = institutions.filter(code=token).first()
        if found is None and text:
            named = list(institutions.filter(name=text)[:2])
            found = named[0] if len(named) == 1 else None
        if found is None:
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice"
            )
        return found

    def label_from_instance(self, obj: Institution) -> str:
        return f"{obj.code} {obj.name}"


def disease_field(**kwargs: Any) -> forms.ModelChoiceField[Disease]:
    return forms.ModelChoiceField(
        queryset=Disease.objects.filter(active=True).order_by("code"),
        label="病种",
        empty_label="请选择病种",
        widget=FastSelect,
        **kwargs,
    )


class SearchForm(forms.Form):
    q = forms.CharField(label="证件号码 / 姓名 / 拼音首字母 / 电话", required=False, max_length=40)
    disease = forms.ModelChoiceField(
        queryset=Disease.objects.order_by("code"),
        required=False,
        label="病种",
        empty_label="全部病种",
        widget=FastSelect,
    )
    insurance_type = forms.ChoiceField(
        choices=[("", "全部险种"), *Patient.Insurance.choices],
        required=False,
        label="险种",
        widget=FastSelect,
    )
    filing_status = forms.ChoiceField(
        choices=[("", "不限备案"), ("active", "有有效跨省备案"), ("none", "无有效跨省备案")],
        required=False,
        label="备案状态",
        widget=FastSelect,
    )


class RegisterForm(forms.Form):
    cert_type = forms.ChoiceField(choices=Patient.CertType.choices, label="证件类型")
    cert_number = CodeField(label="证件号码", max_length=40)
    name = forms.CharField(label="姓名", max_length=50)
    insurance_type = forms.ChoiceField(choices=Patient.Insurance.choices, label="险种")
    phone = forms.CharField(label="联系电话", max_length=20, required=False)
    address = forms.CharField(label="联系地址", max_length=200, required=False)


class PatientEditForm(forms.Form):
    """Correcting a patient: name and contact; the certificate number by a reviewer."""

    name = forms.CharField(label="姓名", max_length=50)
    phone = forms.CharField(label="联系电话", max_length=30, required=False)
    address = forms.CharField(label="联系地址", max_length=200, required=False)
    cert_number = CodeField(label="证件号码（仅复核人员可更正）", max_length=40, required=False)
    reason = forms.CharField(label="更正原因", max_length=100, required=False)

    def __init__(self, *args: Any, may_correct_certificate: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not may_correct_certificate:
            del self.fields["cert_number"]


class AgentForm(forms.Form):
    channel = forms.ChoiceField(
        choices=rules.Channel.choices, label="办理渠道", initial=rules.Channel.WINDOW
    )
    agent_name = forms.CharField(label="代办人姓名", max_length=50, required=False)
    agent_cert_number = CodeField(label="代办人证件号码", max_length=30, required=False)
    agent_phone = forms.CharField(label="代办人电话", max_length=20, required=False)
    agent_relation = forms.CharField(label="与参保人关系", max_length=20, required=False)

    def agent(self) -> rules.Agent:
        data = self.cleaned_data
        return rules.Agent(
            data.get("agent_name", ""),
            data.get("agent_cert_number", ""),
            data.get("agent_phone", ""),
            data.get("agent_relation", ""),
        )


class ApplyForm(AgentForm):
    """The diseases offered are the active ones the patient's insurance covers (ID-4,
    ID-5); another one posted is refused citing ID-5."""

    disease = disease_field()

    def __init__(self, *args: Any, patient: Patient | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["disease"]
        if patient is not None and isinstance(field, forms.ModelChoiceField):
            covered = (
                {"for_employee": True}
                if patient.insurance_type == rules.InsuranceType.EMPLOYEE
                else {"for_resident": True}
            )
            field.queryset = Disease.objects.filter(active=True, **covered).order_by("code")
            field.error_messages["invalid_choice"] = "ID-5：该病种不适用于参保人的险种，或已停用。"

    applied_on = forms.DateField(label="申请日期", widget=DateInput())
    diagnosis_institution = InstitutionField(label="诊断医疗机构")
    diagnosis_date = forms.DateField(label="诊断日期", widget=DateInput())
    diagnosis_doctor = forms.CharField(label="诊断医师", max_length=50)

    field_order = [
        "disease",
        "applied_on",
        "diagnosis_institution",
        "diagnosis_date",
        "diagnosis_doctor",
    ]


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", "认定通过"), ("reject", "不予认定")],
        label="复核结论",
        widget=forms.RadioSelect,
    )
    decided_on = forms.DateField(label="复核日期", widget=DateInput())
    note = forms.CharField(label="复核意见（不予认定时必填）", max_length=200, required=False)


class SelectionForm(forms.Form):
    institution = InstitutionField(label="选点机构")
    start = forms.DateField(label="开始日期", widget=DateInput())


class EndSelectionForm(forms.Form):
    end = LastDayField(label="有效期至（终止后最后有效的一天）")
    end_reason = forms.CharField(label="终止原因", max_length=200)


def filing_destinations() -> Any:
    """FL-1: prefecture-level cities and the four municipalities, outside Guangxi."""

    return (
        Region.objects.filter(active=True)
        .filter(Q(level=Region.Level.PREFECTURE) | Q(code__in=sorted(rules.MUNICIPALITIES)))
        .exclude(code__startswith=rules.GUANGXI[:2])
        .order_by("code")
    )


class DestinationField(forms.ModelChoiceField[Region]):
    default_error_messages = {
        "invalid_choice": "FL-1：目的地应为广西以外的地级市或直辖市。",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            queryset=filing_destinations(),
            to_field_name="code",
            empty_label="请选择就医地",
            **kwargs,
        )

    def label_from_instance(self, obj: Region) -> str:
        return f"{obj.code} {obj.full_name}"

    def to_python(self, value: Any) -> Region | None:
        """Any division code of the table: the list offers FL-1's destinations, and a
        code outside them (a county, a Guangxi city) is refused by FL-1 itself, with the
        rest of the form's rules in the same round."""
        if value in self.empty_values:
            return None
        code = str(value).strip()
        valid = len(code) == rules.DIVISION_CODE_LENGTH and code.isdigit()
        found = Region.objects.filter(code=code).first() if valid else None
        if found is None:
            raise forms.ValidationError("ID-2：不是有效的行政区划代码。", code="invalid_choice")
        return found


class FilingForm(AgentForm):
    type = forms.ChoiceField(choices=Filing.Type.choices, label="备案类型")
    # FL-2: the categories grouped under the type that admits them (portal.js leaves only
    # the chosen type's group selectable).
    subtype = forms.ChoiceField(
        choices=[
            (rules.FilingType.labels[type], [(kind.value, kind.label) for kind in kinds])
            for type, kinds in rules.SUBTYPES.items()
        ],
        label="人员类别",
    )
    destination = DestinationField(label="就医地（广西以外）")
    start = forms.DateField(label="开始日期", widget=DateInput())
    end = LastDayField(label="有效期至（临时备案可不填，默认6个月）", required=False)
    transfer_letter = forms.ModelChoiceField(
        queryset=TransferLetter.objects.none(),
        required=False,
        label="转诊证明（异地转诊时必选）",
        empty_label="无",
    )
    materials = forms.MultipleChoiceField(
        choices=rules.Material.choices,
        label="已收材料",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    field_order = ["type", "subtype", "destination", "start", "end", "transfer_letter", "materials"]

    def __init__(self, *args: Any, patient: Patient, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["transfer_letter"]
        assert isinstance(field, forms.ModelChoiceField)  # noqa: S101 - declared above
        field.queryset = access.under_patient(
            TransferLetter.objects.select_related("receiver"), patient
        )


class CancelFilingForm(forms.Form):
    day = LastDayField(label="有效期至（取消后最后有效的一天）")
    reason = forms.CharField(label="取消原因", max_length=200)


class ChangeFilingForm(AgentForm):
    """FL-4/FL-10: the filing ends as changed on ``day``; a new one starts that day."""

    day = forms.DateField(label="变更日期（新备案的开始日）", widget=DateInput())
    destination = DestinationField(label="新的就医地（广西以外）")
    materials = forms.MultipleChoiceField(
        choices=rules.Material.choices,
        label="已收材料",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    reason = forms.CharField(label="变更原因", max_length=200)

    field_order = ["day", "destination", "materials", "reason"]


class CancelQualificationForm(forms.Form):
    """QL-1: an approved qualification ends after the last valid day given."""

    day = LastDayField(label="有效期至（取消后最后有效的一天）")
    reason = forms.CharField(label="取消原因", max_length=200)


class MoveRequestForm(forms.Form):
    """MV-1: the receiving bureau asks for a patient registered at another bureau."""

    cert_type = forms.ChoiceField(choices=Patient.CertType.choices, label="证件类型")
    cert_number = CodeField(label="证件号码", max_length=40)
    region = forms.ModelChoiceField(
        queryset=Region.objects.none(),
        to_field_name="code",
        label="新参保地（本经办机构服务的县区）",
        empty_label=None,
    )
    effective = forms.DateField(label="生效日期（自该日起在新参保地参保）", widget=DateInput())
    voucher = forms.CharField(label="转移接续凭证号", max_length=50)

    def __init__(self, *args: Any, county: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["region"]
        assert isinstance(field, forms.ModelChoiceField)  # noqa: S101 - declared above
        field.queryset = Region.objects.filter(code=county)


class MoveAnswerForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("accept", "接受转入"), ("refuse", "拒绝")],
        widget=forms.RadioSelect,
        label="答复",
    )
    reason = forms.CharField(label="拒绝理由", max_length=200, required=False)


class MoveOutForm(forms.Form):
    """MV-5: the first day the patient is no longer insured in Guangxi."""

    day = forms.DateField(label="转出日期（自该日起不在广西参保）", widget=DateInput())


class LetterForm(forms.Form):
    disease = disease_field()
    issuer = InstitutionField(label="开具机构（参保地二级及以上医院）")
    receiver = InstitutionField(label="转入机构（参保地以外）")
    reason = forms.ChoiceField(choices=TransferLetter.Reason.choices, label="转诊原因")
    reason_text = forms.CharField(label="具体原因", max_length=200, required=False)
    issued_on = forms.DateField(label="开具日期", widget=DateInput())


class SettlementForm(forms.Form):
    # A patient page links here by id (``pid``), so that no full ID number travels in a URL.
    patient = CodeField(label="参保人证件号码", max_length=40, required=False)
    pid = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1, max_value=2**62)
    institution = InstitutionField(label="就医机构")
    disease = disease_field()
    day = forms.DateField(label="就医日期", widget=DateInput())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("patient") and not data.get("pid"):
            self.add_error("patient", "请填写参保人证件号码。")
        return data


class FinderForm(forms.Form):
    destination = forms.ModelChoiceField(
        queryset=Region.objects.filter(active=True, level__in=[1, 2]).order_by("code"),
        to_field_name="code",
        label="就医地（市或省）",
        empty_label="请选择",
    )
    disease = disease_field()


def today_initial() -> dict[str, dt.date]:

    day = today()
    return {
        "applied_on": day,
        "diagnosis_date": day,
        "decided_on": day,
        "start": day,
        "issued_on": day,
        "day": day,
        "end": day,
    }


# --- statistics and monthly reports ---------------------------------------------------------


def _month_choices(months: list[dt.date]) -> list[tuple[str, str]]:
    return [(f"{m:%Y-%m}", f"{m.year}年{m.month}月") for m in reversed(months)]


def _month(value: str) -> dt.date:
    return dt.datetime.strptime(value, "%Y-%m").date()  # noqa: DTZ007 - a month, no time


class StatisticsForm(forms.Form):
    """统计分析's filters: an area the user may see, months, a disease, a scheme. Unset
    fields take the defaults (the user's own area, the last twelve months)."""

    area = forms.ChoiceField(label="地区", widget=FastSelect)
    first = forms.ChoiceField(label="起始月份", widget=FastSelect)
    last = forms.ChoiceField(label="截止月份", widget=FastSelect)
    disease = forms.ModelChoiceField(
        queryset=Disease.objects.order_by("code"),
        label="病种",
        required=False,
        empty_label="全部病种",
        to_field_name="code",
        widget=FastSelect,
    )
    insurance_type = forms.ChoiceField(
        label="险种",
        choices=[("", "全部险种"), *rules.InsuranceType.choices],
        required=False,
        widget=FastSelect,
    )

    def __init__(self, user: Any, data: Any, months: list[dt.date]) -> None:
        self.areas = {r.code: r for r in access.statistics_areas(user)}
        own = user.bureau.county_id if user.bureau else ""
        defaults = {
            "area": own,
            "last": f"{months[-1]:%Y-%m}",
            "first": f"{months[max(0, len(months) - 12)]:%Y-%m}",
        }
        merged = {**defaults, **{k: v for k, v in (data or {}).items() if v}}
        super().__init__(merged)
        cast(forms.ChoiceField, self.fields["area"]).choices = [
            (code, ("　" * (region.level - 1)) + region.name) for code, region in self.areas.items()
        ]
        months_offered = _month_choices(months)
        cast(forms.ChoiceField, self.fields["first"]).choices = months_offered
        cast(forms.ChoiceField, self.fields["last"]).choices = months_offered
        for name, field in self.fields.items():  # rendered without crispy: a hot page
            field.widget.attrs["class"] = "form-select"
            if self.has_error(name):
                field.widget.attrs["class"] += " is-invalid"
                field.widget.attrs["aria-describedby"] = f"id_{name}-error"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, last = data.get("first"), data.get("last")
        if first and last and _month(first) > _month(last):
            self.add_error("first", "起始月份不能晚于截止月份。")
        return data

    def criteria(self) -> Criteria:
        data = self.cleaned_data
        return Criteria(
            area=self.areas[data["area"]],
            first=_month(data["first"]),
            last=_month(data["last"]),
            disease=data.get("disease"),
            insurance_type=data.get("insurance_type") or "",
        )


class ReportForm(forms.Form):
    """月报: an area the user may see and a month."""

    area = forms.ChoiceField(label="统计地区", widget=FastSelect)
    month = forms.ChoiceField(label="统计月份", widget=FastSelect)

    def __init__(self, user: Any, months: list[dt.date], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.areas = {r.code: r for r in access.statistics_areas(user)}
        cast(forms.ChoiceField, self.fields["area"]).choices = [
            (code, ("　" * (region.level - 1)) + region.name) for code, region in self.areas.items()
        ]
        # The last complete month first: that is the one a bureau reports.
        complete = months[:-1] or months
        cast(forms.ChoiceField, self.fields["month"]).choices = _month_choices(complete)
        self.fields["area"].initial = user.bureau.county_id if user.bureau else ""

    def cleaned_month(self) -> dt.date:
        return _month(self.cleaned_data["month"])


# --- the national platform (cases.national) ------------------------------------------------------


class PlatformIdsForm(forms.Form):
    """The platform's numbers for a patient and each of their records (NX-1, NX-2)."""

    psn_no = CodeField(label="人员编号（psn_no）", max_length=30, required=False)

    def __init__(self, *args: Any, records: list[tuple[str, Any, str]], **kwargs: Any) -> None:
        """``records``: (kind, record, label) for each record that takes a serial."""
        super().__init__(*args, **kwargs)
        self.records = records
        for kind, record, label in records:
            self.fields[f"{kind}_{record.pk}"] = CodeField(
                label=label, max_length=30, required=False, initial=record.trt_dcla_detl_sn
            )

    def serials(self) -> dict[tuple[str, int], str]:
        return {
            (kind, record.pk): self.cleaned_data.get(f"{kind}_{record.pk}", "")
            for kind, record, _ in self.records
        }


def _plain(form: forms.Form) -> None:
    """Bootstrap classes for a form rendered field by field without crispy."""
    for field in form.fields.values():
        select = isinstance(field.widget, forms.Select)
        field.widget.attrs["class"] = "form-select" if select else "form-control"


class ExchangeExportForm(forms.Form):
    """A national-format export: which records, which period, which format."""

    kind = forms.ChoiceField(label="记录类别", choices=[])
    first = forms.DateField(label="期间起", required=False, widget=DateInput())
    last = forms.DateField(
        label="期间止（含当日）",
        required=False,
        widget=DateInput(),
        help_text="记录有效期与此期间有重叠即导出。",
    )
    changed_since = forms.DateField(
        label="变更日期起",
        required=False,
        widget=DateInput(),
        help_text="只导出该日及以后新增或修改的记录。",
    )
    fmt = forms.ChoiceField(label="格式", choices=[("xlsx", "Excel（XLSX）"), ("csv", "CSV")])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from cases.national import EXPORT_KINDS  # noqa: PLC0415 - cases.national imports forms' models

        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["kind"]).choices = EXPORT_KINDS
        _plain(self)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, last = data.get("first"), data.get("last")
        if first and last and last < first:
            self.add_error("last", "期间止不能早于期间起。")
        return data


class ReconciliationForm(forms.Form):
    kind = forms.ChoiceField(label="记录类别", choices=[])
    file = forms.FileField(
        label="平台文件",
        help_text="医保信息平台的查询结果（5301、5302、5304）或 out_appy_d 导出，CSV 或 XLSX，"
        "列名为平台字段名。",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from cases.models.national import Kind  # noqa: PLC0415

        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["kind"]).choices = Kind.choices
        _plain(self)


class AdoptForm(forms.Form):
    confirm = forms.BooleanField(
        label="我已核对，确认将平台的流水号和人员编号写入以上匹配的记录",
        error_messages={"required": "请勾选确认后再采用。"},
    )
