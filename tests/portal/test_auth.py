"""Login, logout and the login requirement, in Chinese."""

import pytest
from django.urls import reverse

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

PAGES = ["home", "status", "admin:index"]


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_request_redirects_to_login(client, name):
    response = client.get(reverse(name), follow=True)
    assert response.redirect_chain, "an anonymous request must be redirected"
    assert response.request["PATH_INFO"] == reverse("login")
    assert "工作人员登录" in response.content.decode()


def test_login_page_is_in_chinese(client):
    response = client.get(reverse("login"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'lang="zh-Hans"' in body
    assert "工作人员登录" in body
    assert "用户名" in body
    assert "密码" in body


def test_clerk_logs_in_and_sees_their_bureau(client, clerk):
    response = client.post(
        reverse("login"), {"username": "clerk", "password": PASSWORD}, follow=True
    )
    body = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("home")
    assert "河池市金城江区" in body
    assert "退出登录" in body


def test_wrong_password_gets_a_chinese_error(client, clerk):
    response = client.post(reverse("login"), {"username": "clerk", "password": "wrong"})
    assert response.status_code == 200
    assert "请输入一个正确的" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logout_is_post_only(client, clerk):
    client.force_login(clerk)
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("home")).status_code == 302


def test_status_page_needs_the_permission(client_for, clerk, data_admin):
    assert client_for(clerk).get(reverse("status")).status_code == 403
    assert client_for(data_admin).get(reverse("status")).status_code == 200
