"""The baseline for the admin benchmark: every model of the admin site registered again
with Django's stock ModelAdmin, keeping only what a team would write first (the same
columns, filters and search fields, lookup prefixes removed) and Django's defaults for the
rest: no list_select_related, a full result count, the default search and paginator.

Mounted at /bench/stock-admin/ by bench.urls (bench.settings, `make bench`) only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin

site = admin.AdminSite(name="stock_admin")


def _plain(fields: Any) -> list[str]:
    return [f.lstrip("=^@") for f in fields]


for model, model_admin in admin.site._registry.items():
    options = {
        "list_display": list(model_admin.list_display),
        "list_filter": list(model_admin.list_filter),
        "search_fields": _plain(model_admin.search_fields),
        "__module__": __name__,
    }
    # Columns computed by the admin class itself come along with it.
    for column in model_admin.list_display:
        if isinstance(column, str) and hasattr(type(model_admin), column):
            options[column] = getattr(type(model_admin), column)
    site.register(model, type(f"Stock{model.__name__}Admin", (admin.ModelAdmin,), options))
