"""The dashboard names the lists whose notices go to the site admins for want of an owner."""

from __future__ import annotations

from html.parser import HTMLParser

from django.urls import reverse

from listkeeper.lists import services
from listkeeper.lists.models import Role


class _Items(HTMLParser):
    """Texts of the <li>s inside <ul class="ownerless-lists">."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.items: list[str] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        if tag == "ul" and ("class", "ownerless-lists") in attrs:
            self.inside = True
        elif tag == "li" and self.inside:
            self.items.append("")

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if tag == "ul":
            self.inside = False

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        if self.inside and self.items:
            self.items[-1] += data.strip()


def ownerless_on_page(response) -> list[str]:
    parser = _Items()
    parser.feed(response.content.decode())
    return parser.items


def test_it_warns_about_lists_without_an_owner(admin_client, alpha, beta) -> None:
    services.subscribe(alpha, "boss@example.org", actor="test", role=Role.OWNER)
    services.subscribe(beta, "member@example.org", actor="test")

    response = admin_client.get(reverse("dashboard"))

    assert response.status_code == 200
    assert [ml.address for ml in response.context["ownerless"]] == ["beta@lists.example.org"]
    assert ownerless_on_page(response) == ["beta@lists.example.org"]


def test_it_says_nothing_when_every_list_has_an_owner(admin_client, alpha) -> None:
    services.subscribe(alpha, "boss@example.org", actor="test", role=Role.OWNER)

    response = admin_client.get(reverse("dashboard"))

    assert response.context["ownerless"] == []
    assert ownerless_on_page(response) == []
