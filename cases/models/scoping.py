"""The guard behind cases.access: case-record queries made while serving a request must
say whose records they read.

Every case model's default manager returns a ``ScopedQuerySet``. While a request is being
served (``guarded()``, entered by portal.middleware.ScopeGuardMiddleware), evaluating one
that nobody scoped raises ``UnscopedQueryError`` where ``settings.STRICT_SCOPING`` is on
(tests and development) and is logged as an error in production: a query that forgot
the bureau fails loudly instead of leaking another bureau's patients.

A queryset is scoped when cases.access made it (``_scoped_as``), when Django made it for
one loaded record (a related manager or a prefetch: the ``instance`` hint), or inside
``unscoped(reason)``, which jobs and model validation use. Nothing here decides who may
see what; that is cases.access.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Self, TypeVar

from django.conf import settings
from django.db import models

logger = logging.getLogger(__name__)

_Model = TypeVar("_Model", bound=models.Model)

# The request being served (its path), or None outside requests.
_serving: ContextVar[str | None] = ContextVar("scoping_serving", default=None)
# Why queries are allowed unscoped here (a job, a validation), or None.
_unscoped: ContextVar[str | None] = ContextVar("scoping_unscoped", default=None)


class UnscopedQueryError(RuntimeError):
    """A case-record query evaluated while serving a request, without a scope."""


@contextmanager
def guarded(path: str) -> Iterator[None]:
    """Serving the request for ``path``: unscoped case-record queries are refused."""
    token = _serving.set(path)
    try:
        yield
    finally:
        _serving.reset(token)


@contextmanager
def unscoped(reason: str) -> Iterator[None]:
    """Queries inside are allowed without a scope; ``reason`` says why (for the log)."""
    token = _unscoped.set(reason)
    try:
        yield
    finally:
        _unscoped.reset(token)


class ScopedQuerySet(models.QuerySet[_Model]):
    # QuerySet._clone, _chain and _hints are Django's private API (copied on every clone,
    # set by related managers); django-stubs does not declare them.
    _scope: str | None = None
    _hints: dict[str, Any]

    def _clone(self) -> Self:
        clone: Self = super()._clone()  # type: ignore[misc]
        clone._scope = self._scope
        return clone

    def _scoped_as(self, scope: str) -> Self:
        """For cases.access only: this queryset was filtered for ``scope``."""
        clone = self._clone()
        clone._scope = scope
        return clone

    def _check_scope(self) -> None:
        path = _serving.get()
        if path is None or self._scope or _unscoped.get() or "instance" in self._hints:
            return
        message = (
            f"{self.model.__name__} queried without a scope while serving {path}: "
            "read case records through cases.access"
        )
        if settings.STRICT_SCOPING:
            raise UnscopedQueryError(message)
        logger.error(message, stack_info=True)

    def _fetch_all(self) -> None:
        if self._result_cache is None:
            self._check_scope()
        super()._fetch_all()

    def count(self) -> int:
        self._check_scope()
        return super().count()

    def exists(self) -> bool:
        self._check_scope()
        return super().exists()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._check_scope()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        self._check_scope()
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        self._check_scope()
        return super().delete()

    def iterator(self, chunk_size: int | None = None) -> Iterator[_Model]:
        self._check_scope()
        return super().iterator(chunk_size)


class ScopedManager(models.Manager[_Model]):
    """The default manager of a case model (related managers derive from it)."""

    _hints: dict[str, Any]

    def get_queryset(self) -> ScopedQuerySet[_Model]:
        return ScopedQuerySet(self.model, using=self._db, hints=self._hints)


class ScopedModel(models.Model):
    """A case model: its default manager is scoped, and its own uniqueness and
    constraint checks (region-wide by nature: one patient per certificate) run unscoped."""

    objects = ScopedManager()

    class Meta:
        abstract = True

    def validate_unique(self, exclude: Any = None) -> None:
        with unscoped("uniqueness check"):
            super().validate_unique(exclude)

    def validate_constraints(self, exclude: Any = None) -> None:
        with unscoped("constraint check"):
            super().validate_constraints(exclude)
