"""Errors look like the rest of the site and say what to do; the favicon exists."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from tests.support.html import text

STYLESHEET = '<link rel="stylesheet" href="/static/listkeeper/listkeeper.css">'


def test_it_shows_a_styled_page_for_an_unknown_address(db):
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert STYLESHEET in body
    assert text(body, id="error-heading") == "Page not found"


def test_it_shows_a_styled_page_when_the_csrf_check_fails(db):
    response = Client(enforce_csrf_checks=True).post(
        reverse("login"), {"username": "a@example.org", "password": "x"}
    )
    assert response.status_code == 403
    body = response.content.decode()
    assert STYLESHEET in body
    assert text(body, id="error-heading") == "The form expired"


def test_it_serves_a_favicon(db):
    client = Client()
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert icon["Content-Type"] == "image/svg+xml"
    assert b"<svg" in b"".join(icon.streaming_content)
