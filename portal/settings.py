"""Settings for the 门特 case-management portal, driven by environment variables.

PORTAL_ENV selects the mode: ``development`` (default; `make run`), ``test`` (`make test`)
or ``production``. Production refuses to start without the values it cannot guess.
Every variable is listed in README.md.
"""

import os
from pathlib import Path

import dj_database_url
import django_stubs_ext
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

# Django's generic classes (ModelAdmin[Model], ModelChoiceField[Model]) subscriptable at
# run time, as the type checker sees them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

PORTAL_ENV = os.environ.get("PORTAL_ENV", "development")
if PORTAL_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured(
        f"PORTAL_ENV must be development, test or production, not {PORTAL_ENV!r}"
    )
PRODUCTION = PORTAL_ENV == "production"


def env_required(name: str, dev_default: str) -> str:
    """A value production must be given; development and test fall back to a default."""
    value = os.environ.get(name, "")
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(f"{name} must be set when PORTAL_ENV=production")
    return dev_default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


SECRET_KEY = env_required("SECRET_KEY", "development-only-insecure-key-" + "x" * 40)
DEBUG = env_bool("DEBUG", PORTAL_ENV == "development")
# A Server-Timing header (time and SQL queries per request), for measuring a deployment.
SERVER_TIMING = env_bool("SERVER_TIMING", False)
# An unscoped case-record query while serving a request raises (cases.models.scoping);
# in production it is logged as an error instead.
STRICT_SCOPING = env_bool("STRICT_SCOPING", not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS") or (
    [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when PORTAL_ENV=production")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "portal",
    "institutions",
    "cases",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Static files are served by WhiteNoise (compressed) under runserver too.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "import_export",
    "simple_history",
]

MIDDLEWARE = [
    "portal.middleware.ServerTimingMiddleware",
    # Case-record queries must be scoped while a request is served (cases.access).
    "portal.middleware.ScopeGuardMiddleware",
    # Read-your-writes with a replica: a write pins the session to the primary a while.
    "portal.replica.PinMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files, precompressed (gzip, Brotli) with far-future caching of hashed names.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "portal.middleware.SessionLimitsMiddleware",
    "portal.middleware.TwoFactorMiddleware",
    "portal.middleware.NoStoreMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes requires.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cases.context_processors.inbox",
            ],
        },
    },
]

# PostgreSQL only: the portal relies on exclusion constraints (btree_gist) and trigram
# search (pg_trgm). `make run` sets DATABASE_URL to an embedded server when none is given.
DATABASES = {
    "default": dj_database_url.parse(
        env_required("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mente_portal"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
# QuerySet.iterator() (a form's choices, among others) reads with a plain cursor: a
# server-side cursor costs three round trips, for lists that are never large.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must name a PostgreSQL database")
# A streaming replica for heavy reads (portal.replica): exports, statistics, monthly
# reports, the admin's lists. Absent: everything on the primary.
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(
        os.environ["DATABASE_REPLICA_URL"],
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
    DATABASES["replica"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["replica"]["OPTIONS"] = {"connect_timeout": 3}
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["portal.replica.ReplicaRouter"]
# Seconds the replica may lag before its reads go to the primary; how often a process
# checks; how long after a write a session reads from the primary.
DATABASE_REPLICA_MAX_LAG = float(os.environ.get("DATABASE_REPLICA_MAX_LAG", "30"))
DATABASE_REPLICA_CHECK_SECONDS = float(os.environ.get("DATABASE_REPLICA_CHECK_SECONDS", "5"))
DATABASE_REPLICA_PIN_SECONDS = int(os.environ.get("DATABASE_REPLICA_PIN_SECONDS", "10"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "portal.User"
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses a locked-out username/address before the password check.
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend with the bureau and all permissions in fewer queries.
    "portal.auth.PortalBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "staticfiles"))
# Collected static files are hashed and precompressed (gzip and Brotli) for WhiteNoise;
# tests read them straight from the app and project folders.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if PORTAL_ENV == "test"
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# `make run` serves what production serves: the collected, compressed files (it collects
# them at start), not the source folders.
WHITENOISE_USE_FINDERS = False
WHITENOISE_AUTOREFRESH = False
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# django-import-export: a whole import is one transaction, so a failed row changes nothing.
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False
# Formats (and formula escaping) come from portal.spreadsheets, set on each admin.
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "change"
# Limits of one admin import (portal.imports).
IMPORT_MAX_BYTES = int(os.environ.get("IMPORT_MAX_BYTES", str(10 * 1024 * 1024)))
IMPORT_MAX_UNPACKED_BYTES = int(os.environ.get("IMPORT_MAX_UNPACKED_BYTES", str(64 * 1024 * 1024)))
IMPORT_MAX_ROWS = int(os.environ.get("IMPORT_MAX_ROWS", "30000"))
IMPORT_MAX_COLUMNS = 60
IMPORT_PENDING_HOURS = 24
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
# Limits of one import of a bureau's case records (cases.imports): a 100,000-patient
# workbook is about 400,000 rows and 25 MB.
CASES_IMPORT_MAX_BYTES = int(os.environ.get("CASES_IMPORT_MAX_BYTES", str(80 * 1024 * 1024)))
CASES_IMPORT_MAX_UNPACKED_BYTES = int(
    os.environ.get("CASES_IMPORT_MAX_UNPACKED_BYTES", str(1024 * 1024 * 1024))
)
CASES_IMPORT_MAX_ROWS = int(os.environ.get("CASES_IMPORT_MAX_ROWS", "600000"))
# A check or an import runs as one Celery task with its own time limit; one that has made
# no progress for this long lost its worker and is queued again by the sweep.
# Patients per transaction of an import's check and import: a group's reads are a few
# queries whatever its size, so larger groups cost fewer round trips.
CASES_IMPORT_GROUP = int(os.environ.get("CASES_IMPORT_GROUP", "1000"))
# Months the statistics' summary table keeps (the current one and the 24 before it).
STATISTICS_MONTHS = 25
STATISTICS_TIME_LIMIT = int(os.environ.get("STATISTICS_TIME_LIMIT", "1200"))
CASES_IMPORT_TIME_LIMIT = int(os.environ.get("CASES_IMPORT_TIME_LIMIT", str(3 * 3600)))
CASES_IMPORT_STALLED = int(os.environ.get("CASES_IMPORT_STALLED", "600"))
# Rows of one national-format export (cases.national), answered within the request; a
# larger area or period is narrowed by its dates.
NATIONAL_EXPORT_MAX_ROWS = int(os.environ.get("NATIONAL_EXPORT_MAX_ROWS", "200000"))

EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "mente-portal@localhost")

# --- Celery -------------------------------------------------------------------------------
# Development uses Celery's filesystem transport (no broker to install); test and production
# use Redis.
CELERY_DATA_DIR = BASE_DIR / "var" / "celery"
CELERY_BROKER_URL = os.environ.get(
    "CELERY_BROKER_URL",
    "filesystem://" if PORTAL_ENV == "development" else "redis://127.0.0.1:6379/0",
)
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_DATA_DIR / "queue"),
        "data_folder_out": str(CELERY_DATA_DIR / "queue"),
        "processed_folder": str(CELERY_DATA_DIR / "processed"),
        "control_folder": str(CELERY_DATA_DIR / "control"),
        "store_processed": False,
    }
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(CELERY_DATA_DIR / "celerybeat-schedule")
# Reliable delivery: a task is acknowledged only after it ran (late ack), one message at a
# time per worker process, hard and soft time limits, and a task whose worker died is
# requeued (safe only because time limits bound every task). Redis redelivers an
# unacknowledged message after the visibility timeout, which must exceed the time limit.
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", "300"))
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
if CELERY_BROKER_URL.startswith("redis"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600"))
    }
# A delivery claimed longer ago than this belongs to a dead worker (> the time limit).
DELIVERY_CLAIM_TIMEOUT = int(
    os.environ.get("DELIVERY_CLAIM_TIMEOUT", str(CELERY_TASK_TIME_LIMIT + 60))
)
# A delivery still pending this long after it was created is enqueued again by the sweep.
DELIVERY_REQUEUE_AFTER = int(os.environ.get("DELIVERY_REQUEUE_AFTER", "120"))
DELIVERY_MAX_RETRIES = 6
SMS_GATEWAY = os.environ.get("SMS_GATEWAY", "cases.delivery.OutboxSmsGateway")

CELERY_BEAT_SCHEDULE = {
    # RM-1..5: the daily reminder job at 08:00 Asia/Shanghai.
    "daily-reminders": {
        "task": "cases.tasks.run_daily_reminders",
        "schedule": crontab(hour=8, minute=0),
    },
    # The statistics' summary table (cases.statistics): figures at most an hour old.
    "refresh-statistics": {
        "task": "cases.tasks.refresh_statistics",
        "schedule": crontab(minute=40),
        "options": {"expires": 3000},
    },
    # Re-enqueue what a broker outage or a dead worker left behind.
    "sweep-reminders": {
        "task": "cases.tasks.sweep",
        "schedule": 120.0,
        "options": {"expires": 110},
    },
    # Uploads left unconfirmed in an import (portal.imports).
    "purge-pending-imports": {
        "task": "portal.tasks.purge_pending_imports",
        "schedule": crontab(minute=17),
        "options": {"expires": 3000},
    },
    "heartbeat": {
        "task": "portal.tasks.heartbeat",
        "schedule": 60.0,
        # Beat's own messages say so, which lets the status page tell beat from a manual run.
        "options": {"expires": 55, "headers": {"portal_origin": "beat"}},
    },
}

# --- Security -----------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
# Secure cookies unless explicitly turned off (plain HTTP on the loopback).
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
# A load balancer's health checks reach the nodes over plain HTTP on the inside.
SECURE_REDIRECT_EXEMPT = [r"^healthz/"]
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", PRODUCTION) else None
)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000" if PRODUCTION else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Sessions end after 30 minutes without a request, and 10 hours after login whatever
# happens (portal.middleware.SessionLimitsMiddleware).
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_IDLE_SECONDS", str(30 * 60)))
# The idle limit is renewed by portal.middleware.SessionLimitsMiddleware once a minute.
SESSION_SAVE_EVERY_REQUEST = False
SESSION_REFRESH_SECONDS = 60
SESSION_ABSOLUTE_SECONDS = int(os.environ.get("SESSION_ABSOLUTE_SECONDS", str(10 * 60 * 60)))
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_HTTPONLY = True

# Lockout after repeated failures (django-axes), counted per username *and* address, so
# that one office behind a shared address is not locked out together by one user's typos.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_HOURS", "0.25"))  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# ... and a ceiling per username over every address (portal.forms.username_ceiling_reached).
AXES_USERNAME_CEILING = int(os.environ.get("AXES_USERNAME_CEILING", "20"))
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_IPWARE_PROXY_COUNT = int(os.environ.get("AXES_PROXY_COUNT", "1" if PRODUCTION else "0"))

# History in the admin is a record: no version is ever saved back from its page
# (portal.admin_base.HistoryAdmin refuses it in any case).
SIMPLE_HISTORY_REVERT_DISABLED = True

# Two-factor login (TOTP): required for these roles, available to everyone.
OTP_TOTP_ISSUER = "门特经办系统"
# django-otp's admin never shows a device's secret key or QR code (its config and qrcode
# views answer 403; set-up happens only on the user's own two-factor page).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
TWO_FACTOR_REQUIRED_ROLES = ["data_admin", "bureau_admin"]

# Content Security Policy: everything from this site, no inline script or style.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
