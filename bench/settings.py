"""The portal's settings for `make bench`: the production settings module plus what only
the benchmark needs. The bench app (its `seed_scale` command), a Server-Timing header on
every response, plain-HTTP cookies for gunicorn on the loopback, and the stock-ModelAdmin
baseline at /bench/stock-admin/ (bench.urls). Never used to serve clerks."""

from portal.settings import *  # noqa: F403
from portal.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
ROOT_URLCONF = "bench.urls"
SERVER_TIMING = True
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_SSL_REDIRECT = False
SECURE_PROXY_SSL_HEADER = None
