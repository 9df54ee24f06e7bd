"""Signing in: argon2, throttled failures, nothing revealed, reset by email."""

from __future__ import annotations

import email
import re
from email import policy

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from listkeeper.delivery.models import Delivery, Recipient
from tests.support.accounts import PASSWORD, make_user


def sign_in(client: Client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def page_text(response) -> str:
    # The CSRF token differs per response; nothing else may.
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())


def test_it_signs_in_with_email_and_password(db):
    make_user("Alice@Example.org")
    client = Client()
    response = sign_in(client, "alice@example.org", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200


def test_it_stores_passwords_with_argon2(db):
    user = make_user("alice@example.org")
    assert user.password.startswith("argon2")


def test_it_answers_the_same_for_a_wrong_password_and_an_unknown_account(db):
    make_user("alice@example.org")
    wrong = sign_in(Client(), "alice@example.org", "not the password")
    unknown = sign_in(Client(), "nobody@example.org", "not the password")
    assert wrong.status_code == unknown.status_code == 200
    assert "do not match an account" in wrong.content.decode()
    assert page_text(wrong).replace("alice@example.org", "X") == page_text(unknown).replace(
        "nobody@example.org", "X"
    )


def test_it_throttles_repeated_failures_even_for_unknown_accounts(db):
    make_user("alice@example.org")
    for username in ("alice@example.org", "nobody@example.org"):
        client = Client(REMOTE_ADDR=f"192.0.2.{len(username)}")
        for _ in range(settings.AXES_FAILURE_LIMIT):
            sign_in(client, username, "guess")
        locked = sign_in(client, username, PASSWORD)
        assert locked.status_code == 429
        assert "Too many sign-in attempts" in locked.content.decode()
    # The right password does not get through while locked.
    assert "_auth_user_id" not in client.session


def test_it_signs_out_on_post_only(db):
    user = make_user("alice@example.org")
    client = Client()
    client.force_login(user)
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("dashboard")).status_code == 302


def queued_mail_to(address: str) -> email.message.EmailMessage:
    rcpt = Recipient.objects.get(email=address)
    return email.message_from_bytes(
        bytes(Delivery.objects.get(id=rcpt.delivery_id).message), policy=policy.default
    )


@pytest.fixture
def ledger_mail(settings):
    # pytest-django swaps in the locmem backend; use the real one: the delivery ledger.
    settings.EMAIL_BACKEND = "listkeeper.delivery.backend.LedgerEmailBackend"


def test_it_mails_a_reset_link_through_the_ledger_and_the_link_sets_a_password(db, ledger_mail):
    make_user("alice@example.org")
    client = Client()
    response = client.post(reverse("password_reset"), {"email": "alice@example.org"})
    assert response.status_code == 302
    msg = queued_mail_to("alice@example.org")
    assert "password" in msg["Subject"].lower()
    text = msg.get_body(("plain",)).get_content()
    link = re.search(re.escape(settings.SITE_URL) + r"(/accounts/reset/\S+/)", text).group(1)
    response = client.get(link, follow=True)
    assert "Choose a new password" in response.content.decode()
    response = client.post(
        response.redirect_chain[-1][0],
        {
            "new_password1": "a brand new passphrase 42",
            "new_password2": "a brand new passphrase 42",
        },
    )
    assert response.status_code == 302
    assert sign_in(Client(), "alice@example.org", "a brand new passphrase 42").status_code == 302


def test_it_does_not_reveal_unknown_addresses_on_reset(db, ledger_mail):
    make_user("alice@example.org")
    known = Client().post(reverse("password_reset"), {"email": "alice@example.org"})
    unknown = Client().post(reverse("password_reset"), {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    assert not Recipient.objects.filter(email="nobody@example.org").exists()


def test_it_creates_an_admin_with_a_generated_password(db, capsys):
    call_command("createadmin", "boss@example.org")
    out = capsys.readouterr().out
    password = re.search(r"Password:\s+(\S+)", out).group(1)
    assert len(password) >= 12
    user = get_user_model().objects.get(username="boss@example.org")
    assert user.is_superuser
    assert sign_in(Client(), "boss@example.org", password).status_code == 302


def test_it_generates_a_different_password_each_time(db, capsys):
    call_command("createadmin", "boss@example.org")
    first = re.search(r"Password:\s+(\S+)", capsys.readouterr().out).group(1)
    call_command("createadmin", "boss@example.org")
    second = re.search(r"Password:\s+(\S+)", capsys.readouterr().out).group(1)
    assert first != second
    assert sign_in(Client(), "boss@example.org", first).status_code == 200
    assert sign_in(Client(), "boss@example.org", second).status_code == 302


def test_it_creates_the_first_admin_only_once_with_if_none(db, capsys):
    call_command("createadmin", "boss@example.org", if_none=True)
    first = capsys.readouterr().out
    assert "Password:" in first and "/accounts/login/" in first
    call_command("createadmin", if_none=True)
    second = capsys.readouterr().out
    assert "Password:" not in second
    assert "Sign in at" in second
    assert get_user_model().objects.filter(is_superuser=True).count() == 1


def test_it_refuses_a_bad_admin_address(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="not-an-address"):
        call_command("createadmin", "not-an-address")


def lock_out(username: str, **client_kwargs: str) -> None:
    client = Client(**client_kwargs)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, username, "guess")
    assert sign_in(client, username, PASSWORD).status_code == 429


def test_it_does_not_lock_another_account_from_the_same_address(db):
    make_user("alice@example.org")
    make_user("root@example.org", admin=True)
    lock_out("alice@example.org", REMOTE_ADDR="192.0.2.10")
    response = sign_in(Client(REMOTE_ADDR="192.0.2.10"), "root@example.org", PASSWORD)
    assert response.status_code == 302


def test_it_does_not_lock_the_same_account_from_another_address(db):
    make_user("alice@example.org")
    lock_out("alice@example.org", REMOTE_ADDR="192.0.2.10")
    response = sign_in(Client(REMOTE_ADDR="198.51.100.7"), "alice@example.org", PASSWORD)
    assert response.status_code == 302


def test_it_takes_the_client_address_behind_a_trusted_proxy(db, settings):
    # Every request comes from the TLS proxy; X-Forwarded-For names the client.
    settings.TRUSTED_PROXY_COUNT = 1
    make_user("alice@example.org")
    proxy = "10.0.0.2"
    lock_out("alice@example.org", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="spoofed, 192.0.2.10")
    elsewhere = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert sign_in(elsewhere, "alice@example.org", PASSWORD).status_code == 302
    # The locked client stays locked whatever it puts in front of the proxy's entry.
    again = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.9, 192.0.2.10")
    assert sign_in(again, "alice@example.org", PASSWORD).status_code == 429


def test_it_refuses_an_admin_address_in_a_list_domain_that_no_one_could_read(db):
    from django.core.management.base import CommandError

    # Our own Postfix takes only list addresses there: held-post notices would be lost.
    with pytest.raises(CommandError, match="domain Listkeeper serves"):
        call_command("createadmin", "admin@lists.example.org")
    with pytest.raises(CommandError, match="a mailbox you read"):
        call_command("createadmin", if_none=True)
    assert not get_user_model().objects.exists()


def test_it_asks_for_the_admin_address_on_a_terminal(db, capsys, monkeypatch):
    from listkeeper.web.management.commands import createadmin

    monkeypatch.setattr(createadmin, "_interactive", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "chair@example.net")

    call_command("createadmin", if_none=True)

    assert get_user_model().objects.get().email == "chair@example.net"
