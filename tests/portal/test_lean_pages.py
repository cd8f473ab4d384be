"""The parts that keep a clerk's page cheap: the auth backend, the session renewal, the
form field rendering and the Server-Timing header the benchmark reads."""

from __future__ import annotations

import re

import pytest
from django import forms
from django.contrib.auth.models import Permission
from django.db import connection
from django.template import Context, Template
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.forms import FastSelect, SearchForm
from portal.auth import PortalBackend

pytestmark = pytest.mark.django_db


def test_backend_loads_the_user_bureau_and_permissions_in_one_query(clerk, data_admin):
    with CaptureQueriesContext(connection) as queries:
        user = PortalBackend().get_user(clerk.pk)
        assert user.bureau.name  # no query: loaded with the user
        assert user.has_perm("cases.add_patient")
        assert user.has_perm("cases.view_patient")
        assert not user.has_perm("cases.view_all_patients")
    assert len(queries) == 1
    clerk.user_permissions.add(Permission.objects.get(codename="view_all_patients"))
    assert PortalBackend().get_user(clerk.pk).has_perm("cases.view_all_patients")
    data_admin.is_superuser = True
    data_admin.save()
    assert PortalBackend().get_user(data_admin.pk).has_perm("cases.delete_patient")


def test_fast_select_renders_like_a_select():
    class Form(forms.Form):
        kind = forms.ChoiceField(choices=[("", "全部"), ("a", "甲<乙>")], widget=FastSelect)

    html = str(Form({"kind": "a"})["kind"])
    assert '<select name="kind" id="id_kind" required>' in html
    assert '<option value="a" selected>甲&lt;乙&gt;</option>' in html
    assert '<option value="">全部</option>' in html


def test_field_filter_shows_label_widget_and_errors_next_to_the_field():
    form = SearchForm({"q": "x" * 41})
    assert not form.is_valid()
    html = Template("{% load fields %}{{ form.q|field }}{{ form.disease|field }}").render(
        Context({"form": form})
    )
    assert '<label for="id_q" class="form-label">' in html
    assert 'class="form-control is-invalid"' in html
    assert 'class="invalid-feedback d-block"' in html
    assert 'class="form-select"' in html


def test_server_timing_header_when_enabled(settings, client_for, clerk):
    settings.SERVER_TIMING = True
    client = client_for(clerk)
    client.get(reverse("home"))
    header = client.get(reverse("home"))["Server-Timing"]
    assert re.fullmatch(r'app;dur=[\d.]+, db;dur=[\d.]+;desc="\d+"', header)
    settings.SERVER_TIMING = False
    assert "Server-Timing" not in Client().get(reverse("login")).headers


def test_a_page_view_writes_nothing_when_the_session_was_just_renewed(client_for, clerk):
    client = client_for(clerk)
    client.get(reverse("home"))
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("inbox"))
    assert not [q for q in queries if q["sql"].startswith(("UPDATE", "INSERT"))]
