"""The portal's URLs and the stock-ModelAdmin baseline the admin benchmark compares with."""

from django.urls import URLPattern, URLResolver, path

from bench.stock_admin import site as stock_admin_site
from portal.urls import urlpatterns as portal_urlpatterns

urlpatterns: list[URLPattern | URLResolver] = [
    path("bench/stock-admin/", stock_admin_site.urls),
    *portal_urlpatterns,
]
