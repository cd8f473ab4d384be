"""Static files as production serves them: collected with hashed names, precompressed, and
served by WhiteNoise with the encoding the browser accepts and long caching."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.test import RequestFactory, override_settings
from whitenoise.middleware import WhiteNoiseMiddleware

COMPRESSED = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# What the page shell may weigh on the wire, CSS and scripts together (Bootstrap included).
SHELL_BUDGET = 80 * 1024


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("static")
    with override_settings(STATIC_ROOT=root, STORAGES=COMPRESSED):
        call_command("collectstatic", "--noinput", verbosity=0)
    return root


def serve(root: Path, url: str, encodings: str) -> HttpResponse:
    with override_settings(STATIC_ROOT=root, STORAGES=COMPRESSED, DEBUG=False):
        middleware = WhiteNoiseMiddleware(lambda request: HttpResponse(status=404))
        request = RequestFactory().get(url, HTTP_ACCEPT_ENCODING=encodings)
        return middleware(request)  # type: ignore[no-any-return]


def shell_assets(root: Path) -> list[str]:
    """The stylesheet and script URLs every page links, as production renders them."""
    with override_settings(STATIC_ROOT=root, STORAGES=COMPRESSED, DEBUG=False):
        html = render_to_string("403.html")
    return re.findall(r'(?:href|src)="(/static/[^"]+\.(?:css|js))"', html)


def body(response: HttpResponse) -> bytes:
    return b"".join(response.streaming_content)  # type: ignore[attr-defined]


def test_collected_files_have_hashed_names_and_compressed_twins(collected):
    css = next((collected / "vendor" / "bootstrap").glob("bootstrap.min.*.css"))
    assert re.fullmatch(r"bootstrap\.min\.[0-9a-f]{12}\.css", css.name)
    assert Path(f"{css}.gz").exists()
    assert Path(f"{css}.br").exists()


@pytest.mark.parametrize(("accepts", "encoding"), [("gzip, deflate, br", "br"), ("gzip", "gzip")])
def test_bootstrap_travels_compressed_and_cached_for_a_year(collected, accepts, encoding):
    css = next((collected / "vendor" / "bootstrap").glob("bootstrap.min.*.css"))
    response = serve(collected, f"/static/vendor/bootstrap/{css.name}", accepts)
    assert response.status_code == 200
    assert response["Content-Encoding"] == encoding
    assert "Accept-Encoding" in response["Vary"]
    assert "max-age=315360000" in response["Cache-Control"]  # hashed name: immutable
    assert len(body(response)) < css.stat().st_size / 4


def test_an_old_browser_without_compression_gets_the_plain_file(collected):
    css = next((collected / "portal").glob("portal.*.css"))
    response = serve(collected, f"/static/portal/{css.name}", "")
    assert "Content-Encoding" not in response
    assert len(body(response)) == css.stat().st_size


def test_the_page_shell_weighs_under_budget_on_the_wire(collected):
    assets = shell_assets(collected)
    assert any("bootstrap.min." in a for a in assets)
    assert all(re.search(r"\.[0-9a-f]{12}\.(css|js)$", a) for a in assets), assets
    sizes = {a: len(body(serve(collected, a, "gzip, br"))) for a in assets}
    assert sum(sizes.values()) < SHELL_BUDGET, sizes
