"""Escaped output, security headers, CSRF on every change, no change on GET."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from django.test import Client
from django.urls import reverse

from listkeeper.lists import services
from listkeeper.lists.models import Subscription

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'


def test_it_renders_hostile_names_and_descriptions_as_text(admin_client, alpha):
    services.update_list(alpha, actor="test", display_name=SCRIPT, description=IMG)
    sub = services.subscribe(alpha, "ann@example.org", actor="test", name=IMG).subscription
    services.rename_member(sub.member, SCRIPT + IMG, actor=SCRIPT)
    pages = [
        reverse("dashboard"),
        reverse("lists"),
        reverse("list_members", args=[alpha.id]),
        reverse("list_edit", args=[alpha.id]),
        reverse("member", args=[sub.member_id]),
        reverse("members"),
        reverse("audit"),
    ]
    for url in pages:
        body = admin_client.get(url).content.decode()
        assert "<script>alert" not in body, url
        assert "<img src=x" not in body, url
    body = admin_client.get(reverse("list_members", args=[alpha.id])).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_it_sends_a_content_security_policy_without_inline_scripts(admin_client):
    response = admin_client.get(reverse("dashboard"))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_it_uses_no_inline_script_or_style_in_its_pages(admin_client, alpha):
    services.subscribe(alpha, "ann@example.org", actor="test")
    for url in [
        reverse("dashboard"),
        reverse("list_members", args=[alpha.id]),
        reverse("bulk_new"),
    ]:
        body = admin_client.get(url).content.decode()
        # Scripts only as files from our own origin: <script src="/static/...">.
        scripts = re.findall(r"<script[^>]*>", body)
        assert scripts == ['<script src="/static/listkeeper/listkeeper.js" defer>'], url
        assert not re.search(r"<[^>]*\son[a-z]+\s*=", body), url  # no onclick= etc.
        assert "style=" not in body and "<style" not in body, url


@pytest.mark.parametrize(
    ("site_url", "secure"),
    [("https://lists.example.org", True), ("http://127.0.0.1:8000", False)],
)
def test_it_secures_cookies_and_sends_hsts_when_the_site_is_https(site_url, secure, tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0)"
    )
    env = {
        **os.environ,
        "SITE_URL": site_url,
        "DJANGO_SETTINGS_MODULE": "listkeeper.settings",
        "LISTKEEPER_DATA_DIR": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [str(secure)] * 3


def test_it_sends_hsts_on_https_requests_when_configured(admin_user, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    client = Client()
    client.force_login(admin_user)
    response = client.get(reverse("dashboard"), secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_it_refuses_changes_without_a_csrf_token(admin_user, alpha):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    sub = services.subscribe(alpha, "ann@example.org", actor="test").subscription
    changes = [
        (
            reverse("list_member_add", args=[alpha.id]),
            {"address": "eve@example.org", "role": "member"},
        ),
        (
            reverse("list_member_action", args=[alpha.id]),
            {"action": "remove", "selected": [sub.id]},
        ),
        (reverse("list_edit", args=[alpha.id]), {"display_name": "x"}),
        (reverse("list_delete", args=[alpha.id]), {"confirm": alpha.address}),
        (reverse("member_erase", args=[sub.member_id]), {}),
        (reverse("bulk_new"), {"lists": [alpha.id], "text": "z@example.org"}),
        (reverse("logout"), {}),
    ]
    for url, data in changes:
        assert client.post(url, data).status_code == 403, url
    assert Subscription.objects.filter(id=sub.id).exists()
    assert not Subscription.objects.filter(member__key="eve@example.org").exists()


def test_it_changes_nothing_on_get(admin_client, alpha):
    sub = services.subscribe(alpha, "ann@example.org", actor="test").subscription
    gets = [
        reverse("list_member_action", args=[alpha.id]) + f"?action=remove&selected={sub.id}",
        reverse("member_subscription_remove", args=[sub.member_id, sub.id]),
        reverse("member_subscription", args=[sub.member_id, sub.id]) + "?status=unsubscribed",
        reverse("member_join", args=[sub.member_id]) + f"?list={alpha.id}",
        reverse("member_address", args=[sub.member_id]) + "?address=new@example.org",
        reverse("user_change", args=[1]) + "?do=delete",
    ]
    for url in gets:
        assert admin_client.get(url).status_code == 405, url
    # Confirmation pages show what would happen and change nothing.
    admin_client.get(reverse("member_erase", args=[sub.member_id]))
    admin_client.get(reverse("list_delete", args=[alpha.id]) + f"?confirm={alpha.address}")
    sub.refresh_from_db()
    assert sub.status == "active"
    assert sub.member.email == "ann@example.org"
