"""How a search term is matched, so that every search is answered from an index.

- an ID number or another code is matched exactly (B-tree);
- a name of three characters or more is matched anywhere in the name (trigram GIN);
  a shorter one at the start of the name (B-tree with varchar_pattern_ops), since a
  trigram index cannot answer a one- or two-character pattern and most Chinese names are
  two or three characters long;
- latin letters are pinyin: initials ("wh") or the full spelling ("wanghua"), by the
  same rule.

Used by the clerk's patient search and by the admin site's changelists (cases.admin).
"""

from __future__ import annotations

import re

from django.db.models import Q

from cases import rules

TRIGRAM_MIN = 3
ID_NUMBER = re.compile(r"^(\d{15}|\d{17}[\dX])$")
SERIAL = re.compile(r"^ZS\d+$")
CODE = re.compile(r"^[0-9A-Z]+$")


def kind(term: str) -> str:
    """id, serial, code, latin (pinyin) or text (a name)."""
    normalized = rules.normalize_cert_number(term)
    if ID_NUMBER.match(normalized):
        return "id"
    if SERIAL.match(term.strip().upper()):
        return "serial"
    if term.isascii() and term.isalpha():
        return "latin"
    if CODE.match(term.strip().upper()) and any(c.isdigit() for c in term):
        return "code"
    return "text"


def name_q(field: str, text: str) -> Q:
    text = text.strip()
    if len(text) < TRIGRAM_MIN:
        return Q(**{f"{field}__startswith": text})
    return Q(**{f"{field}__contains": text})


def pinyin_q(prefix: str, letters: str) -> Q:
    """Pinyin is stored in lower case: initials and full spellings, '|' between readings."""
    letters = letters.strip().lower()
    if len(letters) < TRIGRAM_MIN:
        return Q(**{f"{prefix}name_initials__startswith": letters})
    return Q(**{f"{prefix}name_initials__contains": letters}) | Q(
        **{f"{prefix}name_pinyin__contains": letters}
    )
