"""/status/ is for site administrators and says where Postfix really relays to."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from listkeeper.lists import services
from listkeeper.postfix.instance import PostfixInstance
from listkeeper.postfix.render import Options
from tests.support.html import text, texts


def test_it_sends_anonymous_visitors_to_sign_in(alpha):
    response = Client().get(reverse("status"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_hides_the_status_page_from_list_owners(owner_client, alpha):
    assert owner_client.get(reverse("status")).status_code == 404


def test_it_shows_every_list_to_a_site_admin(admin_client, alpha, beta):
    services.update_list(beta, actor="test", public=False)
    services.subscribe(alpha, "ann@example.org", actor="test")
    page = admin_client.get(reverse("status")).content
    rows = texts(page, "tr")[1:3]
    assert rows == [
        "alpha@lists.example.org Alpha 1",
        "beta@lists.example.org Beta 0",
    ]


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path


def render_postfix(data_dir, **options) -> None:
    PostfixInstance(data_dir / "postfix", Options(**options)).render()


def test_it_names_the_local_catcher_when_serve_relays_there(admin_client, data_dir, settings):
    settings.SES_USER = ""
    # What serve's CatchingPostfix renders without SES credentials.
    render_postfix(data_dir, relay=("127.0.0.1", 40123), relay_tls="none", ses_user="", ses_pass="")
    relay = text(admin_client.get(reverse("status")).content, id="postfix-relay")
    assert relay.startswith("the local catcher at [127.0.0.1]:40123: nobody is mailed")
    assert "SES" not in relay


def test_it_names_ses_with_sasl_when_credentials_are_set(admin_client, data_dir, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    render_postfix(
        data_dir,
        relay=("email-smtp.eu-west-2.amazonaws.com", 587),
        relay_tls="secure",
        relay_ca_file=str(ca),
        ses_user="AKIAEXAMPLE",
        ses_pass="secret",
    )
    relay = text(admin_client.get(reverse("status")).content, id="postfix-relay")
    assert relay == (
        "Amazon SES at [email-smtp.eu-west-2.amazonaws.com]:587, signs in with SASL, "
        "TLS with the certificate checked"
    )


def test_it_names_another_relay_host(admin_client, data_dir):
    render_postfix(data_dir, relay=("smtp.example.net", 25), relay_tls="none", ses_user="")
    relay = text(admin_client.get(reverse("status")).content, id="postfix-relay")
    assert relay == "RELAY_HOST at [smtp.example.net]:25, without SASL (no SES_USER), no TLS"


def test_it_says_when_no_configuration_was_written(admin_client, data_dir):
    relay = text(admin_client.get(reverse("status")).content, id="postfix-relay")
    assert relay.startswith("no Postfix configuration has been written yet")
