"""How personal numbers look to a user who may not see them in full (PIPL).

An ID number keeps its first four and last four characters (4512**********1233), a
phone its first three and last four (138****5678); shorter values keep less.
"""

from __future__ import annotations

import re

from cases.rules import normalize_cert_number


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


ID_LIKE = re.compile(r"^[0-9A-Z]{6,30}$")
NOT_IN_URLS = "为保护个人信息，证件号码和电话不在网址中传递，请在查询框中输入后提交查询。"


def identifies_someone(term: str) -> bool:
    """Whether a search term is an ID number or a phone, which never travel in a URL
    (access logs, Referer headers, browser history): search forms post them instead."""
    q = normalize_cert_number(term)
    if q.isdigit():
        return len(q) >= 7
    return bool(ID_LIKE.match(q)) and any(c.isdigit() for c in q)
