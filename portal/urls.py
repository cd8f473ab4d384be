from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path

from portal import two_factor, views
from portal.forms import PortalLoginForm

admin.site.site_header = "门特经办系统 · 数据管理"
admin.site.site_title = "门特经办系统"
admin.site.index_title = "基础数据与账户"

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True, authentication_form=PortalLoginForm
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/2fa/verify/", two_factor.verify, name="two_factor_verify"),
    path("accounts/2fa/setup/", two_factor.setup, name="two_factor_setup"),
    path("status/", views.status, name="status"),
    path("healthz/live/", views.live, name="health_live"),
    path("healthz/ready/", views.ready, name="health_ready"),
    # One login page for the portal and the admin site.
    path("admin/login/", views.admin_login),
    path("admin/", admin.site.urls),
    path("", include("cases.urls")),
]
