"""What every clerk page shares: who may use it (decided by cases.access), how it
answers, and how a list is exported."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

import tablib
from django import forms
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils.http import content_disposition_header

from cases import access, facts
from cases.forms import show_refusal
from cases.services import PolicyRefusal
from portal import replica
from portal.audit import record_export
from portal.models import User
from portal.spreadsheets import CSV, XLSX

EXPORT_FORMATS = ("xlsx", "csv")


class StaffRequest(HttpRequest):
    """A request from a signed-in staff user (every page but login requires one)."""

    user: User


View = Callable[..., HttpResponse]


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def reads_by_post(view: View) -> View:
    """Marks a page that posts only to read (a search's terms, a settlement check's
    question): oversight may post to it."""
    view.reads_by_post = True  # type: ignore[attr-defined]
    return view


def bureau_staff(view: View) -> View:
    """Pages for the staff of a bureau (reading); other users get a 403. Oversight (a
    prefecture's or the region's staff) reads only: a POST is refused unless the page
    posts to read."""
    posts_to_read = getattr(view, "reads_by_post", False)

    @wraps(view)
    def wrapper(request: StaffRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not access.is_bureau_staff(request.user):
            raise PermissionDenied("此页面仅供经办机构工作人员使用。")
        if (
            request.method not in SAFE_METHODS
            and not posts_to_read
            and access.oversees(request.user)
        ):
            raise PermissionDenied("地级市、自治区医疗保障局只查看、不经办业务档案。")
        return view(request, *args, **kwargs)

    return wrapper


def importer(view: View) -> View:
    """Pages for those who may import case records: a bureau's staff, data administrators."""

    @wraps(view)
    def wrapper(request: StaffRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not access.may_import(request.user):
            raise PermissionDenied("您没有导入业务档案的权限。")
        return view(request, *args, **kwargs)

    return wrapper


def recorder(view: View) -> View:
    """Pages that change case records: clerks, reviewers and bureau administrators."""

    @wraps(view)
    def wrapper(request: StaffRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not access.may_record(request.user):
            raise PermissionDenied("您没有录入门特业务的权限。")
        return view(request, *args, **kwargs)

    return wrapper


Saved = TypeVar("Saved")


class _RulesChecked(Exception):
    """Rolls back a save attempted only to check the rules (``submit``)."""


def submit(
    form: forms.Form,
    save: Callable[[Mapping[str, Any]], Saved],
    *,
    needs: Sequence[str] = (),
    field_map: dict[str, str] | None = None,
) -> Saved | None:
    """Save a posted ``form`` through its service (``save``, given the cleaned data): what
    was saved, or None with every error on the form in one round. A form with field
    errors is still checked by the rules when the fields they need (``needs``) are valid:
    the service runs with the other fields empty, in a transaction rolled back whatever
    it does, and each rule it cites is shown beside a field not already in error."""
    if form.is_valid():
        try:
            return save(form.cleaned_data)
        except PolicyRefusal as refusal:
            show_refusal(form, refusal, field_map)
            return None
    if not form.is_bound:  # nothing posted
        return None
    data = {name: form.cleaned_data.get(name) for name in form.fields}
    if any(data[name] in (None, "", []) for name in needs):
        return None
    try:
        with transaction.atomic():
            save(data)
            raise _RulesChecked
    except _RulesChecked:
        pass
    except PolicyRefusal as refusal:
        mapped = field_map or {}
        targets = [mapped.get(v.field or "", v.field) for v in refusal.violations]
        fresh = [
            v
            for v, name in zip(refusal.violations, targets, strict=True)
            if not (name in form.fields and form.has_error(name))
        ]
        show_refusal(form, PolicyRefusal(fresh), field_map)
    return None


def download(content: bytes | str, file_name: str, content_type: str) -> HttpResponse:
    """A file to save, named ``file_name`` (Chinese allowed)."""
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, file_name) or ""
    return response


def workbook(content: bytes, name: str) -> HttpResponse:
    """An .xlsx download named ``name``."""
    return download(content, f"{name}.xlsx", XLSX.CONTENT_TYPE)


def spreadsheet(
    rows: Sequence[Sequence[Any]], headers: list[str], name: str, fmt: str
) -> HttpResponse:
    """``rows`` as an .xlsx or .csv download named ``name`` (Chinese allowed)."""
    dataset = tablib.Dataset(*rows, headers=headers)
    if fmt == "xlsx":
        return workbook(XLSX().export_data(dataset), name)
    return download(CSV().export_data(dataset), f"{name}.{fmt}", "text/csv; charset=utf-8")


def export(
    request: StaffRequest,
    *,
    what: str,
    name: str,
    fmt: str,
    headers: list[str],
    rows: Callable[[bool], Sequence[Sequence[Any]]],
) -> HttpResponse:
    """A list exported: numbers in full only for a user who may unmask them (recorded in
    the audit log), the export itself recorded with its row count."""
    unmask = access.unmasked(request, f"{what}导出")
    data = replica.on_replica(lambda: rows(unmask))
    record_export(request.user, what, len(data), unmasked=unmask)
    return spreadsheet(data, headers, export_name(request.user, name), fmt)


@dataclass(frozen=True)
class Heading:
    """A list's column heading: a link that sorts by it (ascending first, then reversed),
    and ``aria_sort`` on the column the list is sorted by."""

    label: str
    query: str | None  # None: the column does not sort
    aria_sort: str  # "ascending", "descending" or ""


def list_query(request: HttpRequest, *dropped: str) -> str:
    """The list's query string without its page and export (and ``dropped``)."""
    query = request.GET.copy()
    for name in ("page", "export", *dropped):
        query.pop(name, None)
    return query.urlencode()


def sort_headings(
    request: HttpRequest, columns: Sequence[tuple[str, str | None]], current: str
) -> list[Heading]:
    """Headings for ``columns`` (label, sort key or None) of a list sorted by ``current``."""
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("export", None)
    headings = []
    for label, key in columns:
        if key is None:
            headings.append(Heading(label, None, ""))
            continue
        aria = {key: "ascending", f"-{key}": "descending"}.get(current, "")
        query["sort"] = f"-{key}" if aria == "ascending" else key
        headings.append(Heading(label, query.urlencode(), aria))
    return headings


RECENT = "recent_patients"
RECENT_KEPT = 10


def remember_patient(request: HttpRequest, pk: int) -> None:
    """Keep ``pk`` first among the patients the user opened lately (in the session)."""
    kept = request.session.get(RECENT, [])
    if kept[:1] != [pk]:  # the session is saved only when the list changes
        request.session[RECENT] = [pk, *(p for p in kept if p != pk)][:RECENT_KEPT]


def recent(request: HttpRequest) -> list[int]:
    """The patients the user opened lately, latest first (remember_patient)."""
    kept = request.session.get(RECENT, [])
    return [p for p in kept if isinstance(p, int)]


def export_name(user: User, what: str) -> str:
    """参保人_金城江区_20261201: what, the bureau's county and the day of the export."""
    county = user.bureau.county.name if user.bureau else ""
    return "_".join(part for part in (what, county, f"{facts.today():%Y%m%d}") if part)


__all__ = [
    "EXPORT_FORMATS",
    "Heading",
    "StaffRequest",
    "bureau_staff",
    "export",
    "importer",
    "list_query",
    "recent",
    "recorder",
    "remember_patient",
    "sort_headings",
    "spreadsheet",
    "submit",
    "workbook",
]
