"""A moderator sees what they can act on; forms put each label beside its checkbox."""

from __future__ import annotations

import re

from django.urls import reverse

from tests.support.held import hold
from tests.support.html import parse, texts


def nav_links(body: str) -> list[str]:
    nav = parse(body).iter("nav")[0]
    return [a.text for a in nav.iter("a")]


def test_it_shows_a_moderator_their_lists_with_held_posts(moderator_client, alpha, beta):
    hold(alpha)
    body = moderator_client.get(reverse("lists")).content.decode()
    rows = texts(body, "tr")[1:]
    assert len(rows) == 1
    assert rows[0].startswith("alpha@lists.example.org Alpha")
    assert "1 held" in rows[0]
    assert "Bulk add" not in nav_links(body) and "Members" not in nav_links(body)


def test_it_tells_a_moderator_that_bulk_add_is_for_owners(moderator_client, alpha):
    body = moderator_client.get(reverse("bulk_new")).content.decode()
    assert "Bulk add is for list owners" in " ".join(texts(body, cls="empty"))
    assert 'type="file"' not in body


def test_it_shows_the_full_navigation_to_an_owner(owner_client, alpha):
    links = nav_links(owner_client.get(reverse("dashboard")).content.decode())
    assert {"Lists", "Members", "Bulk add", "Audit log"} <= set(links)
    assert "Users" not in links and "Status" not in links


def test_it_puts_each_checkbox_label_beside_its_box(admin_client, alpha, beta):
    for name in ("bulk_new", "user_create"):
        body = admin_client.get(reverse(name)).content.decode()
        # The question is a legend over the boxes, each box is followed by its own label.
        assert re.findall(r"<legend>([^<]+)</legend>", body)[:1] == [
            {"bulk_new": "Add to", "user_create": "Owner of"}[name]
        ], name
        assert not re.search(r"<label[^>]*>\s*<div", body), name
        boxes = re.findall(
            r'<label for="(id_[a-z_]+_\d+)"><input[^>]*id="\1"[^>]*>\s*([^<\s]+)', body
        )
        assert [label for _, label in boxes] == [
            "alpha@lists.example.org",
            "beta@lists.example.org",
        ], name
