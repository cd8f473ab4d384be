"""How personal numbers look to a user who may not see them in full (PIPL).

An ID number keeps its first four and last four characters (4512**********1233), a
phone its first three and last four (138****5678); shorter values keep less.
"""

from __future__ import annotations

import re

from cases.rules import normalize_cert_number

KEPT = 4  # characters kept at each end of an ID number, at the end of a phone
MOBILE_LENGTH = 11  # a mobile number: its first three digits are kept too
PHONE_LENGTHS = range(7, MOBILE_LENGTH + 1)  # a landline (7 or 8 digits) to a mobile


def mask_cert_number(number: str) -> str:
    if len(number) <= 2 * KEPT:
        return number[:2] + "*" * max(len(number) - 2, 0)
    return number[:KEPT] + "*" * (len(number) - 2 * KEPT) + number[-KEPT:]


def mask_phone(phone: str) -> str:
    if len(phone) >= MOBILE_LENGTH:
        return phone[:3] + "****" + phone[-KEPT:]
    if len(phone) > KEPT:
        return "*" * (len(phone) - KEPT) + phone[-KEPT:]
    return "*" * len(phone)


# Fields of case records that hold such numbers, with how each is masked.
SENSITIVE_FIELDS = {
    "cert_number": mask_cert_number,
    "phone": mask_phone,
    "agent_cert_number": mask_cert_number,
    "agent_phone": mask_phone,
}


ID_LIKE = re.compile(r"^[0-9A-Z]{6,30}$")
NOT_IN_URLS = "为保护个人信息，证件号码和电话不在网址中传递，请在查询框中输入后提交查询。"


def identifies_someone(term: str) -> bool:
    """Whether a search term is an ID number or a phone, which never travel in a URL
    (access logs, Referer headers, browser history): search forms post them instead."""
    q = normalize_cert_number(term)
    if q.isdigit():
        return len(q) >= PHONE_LENGTHS.start
    return bool(ID_LIKE.match(q)) and any(c.isdigit() for c in q)


def mask_name(name: str) -> str:
    """The surname kept (韦**): what a bureau that does not keep the case may see (MV-1)."""
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""
