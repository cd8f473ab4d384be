"""Format checks for reference-data codes (POLICY.md ID-2, ID-3, ID-4).

The regular expressions are shared with the database check constraints in models.py, so a
code refused here is refused on every write path.
"""

from django.core.validators import RegexValidator

DIVISION_CODE_RE = r"^\d{6}$"
INSTITUTION_CODE_RE = r"^[HP]\d{11}$"
DISEASE_CODE_RE = r"^M\d{5}$"

validate_division_code = RegexValidator(
    DIVISION_CODE_RE,
    "ID-2：行政区划代码应为6位数字，例如 451202。",
    code="ID-2",
)
validate_institution_code = RegexValidator(
    INSTITUTION_CODE_RE,
    "ID-3：定点医药机构编码应为字母H（医疗机构）或P（药店）加11位数字，例如 H45120200001。",
    code="ID-3",
)
validate_disease_code = RegexValidator(
    DISEASE_CODE_RE,
    "ID-4：门特病种编码应为字母M加5位数字，例如 M03900。",
    code="ID-4",
)
