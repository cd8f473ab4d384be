"""How personal numbers look to a user who may not see them in full (PIPL).

An ID number keeps its first four and last four characters (4512**********1233), a
phone its first three and last four (138****5678); shorter values keep less.
"""

from __future__ import annotations


def mask_cert_number(number: str) -> str:
    if len(number) <= 8:
        return number[:2] + "*" * max(len(number) - 2, 0)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_phone(phone: str) -> str:
    if len(phone) >= 11:
        return phone[:3] + "****" + phone[-4:]
    if len(phone) > 4:
        return "*" * (len(phone) - 4) + phone[-4:]
    return "*" * len(phone)


# Fields of case records that hold such numbers, with how each is masked.
SENSITIVE_FIELDS = {
    "cert_number": mask_cert_number,
    "phone": mask_phone,
    "agent_cert_number": mask_cert_number,
    "agent_phone": mask_phone,
}
