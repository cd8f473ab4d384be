"""Settings come from the environment and production refuses to guess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _start_django(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    unset = {"SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"}
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        check=False,
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "portal.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_secret_key():
    result = _start_django({"PORTAL_ENV": "production", "ALLOWED_HOSTS": "portal.example"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts():
    result = _start_django({"PORTAL_ENV": "production", "SECRET_KEY": "s" * 50})
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must be set" in result.stderr


PRODUCTION = {
    "PORTAL_ENV": "production",
    "SECRET_KEY": "s" * 50,
    "ALLOWED_HOSTS": "portal.example",
    "DATABASE_URL": "postgres://portal@db.internal:5432/portal",
}


def test_production_refuses_to_start_without_database_url():
    env = {k: v for k, v in PRODUCTION.items() if k != "DATABASE_URL"}
    result = _start_django(env)
    assert result.returncode != 0
    assert "DATABASE_URL must be set" in result.stderr


def test_production_starts_with_its_values():
    result = _start_django(PRODUCTION)
    assert result.returncode == 0, result.stderr


def test_unknown_mode_is_refused():
    result = _start_django({"PORTAL_ENV": "staging"})
    assert result.returncode != 0
    assert "PORTAL_ENV must be" in result.stderr


@pytest.mark.django_db
def test_the_database_is_postgresql():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension")
        extensions = {row[0] for row in cursor.fetchall()}
    assert {"btree_gist", "pg_trgm"} <= extensions


def test_language_and_time_zone(settings):
    assert settings.LANGUAGE_CODE == "zh-hans"
    assert settings.TIME_ZONE == "Asia/Shanghai"
    assert settings.USE_TZ is True
