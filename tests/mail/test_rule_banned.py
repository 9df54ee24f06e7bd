from __future__ import annotations

import pytest

from listkeeper.lists import services
from listkeeper.lists.models import Ban
from listkeeper.mail import rules
from listkeeper.mail.errors import Reject
from tests.mail.conftest import load, make_ctx


def test_it_rejects_a_post_from_an_address_banned_on_the_list_whatever_the_case(ml) -> None:
    Ban.objects.create(mailing_list=ml, pattern="alice@example.com")

    with pytest.raises(Reject, match="Alice@example.com is banned from this list"):
        rules.banned(
            make_ctx(
                ml, load("plain.eml").replace(b"alice@", b"Alice@"), sender="bounce@example.com"
            )
        )


def test_it_rejects_a_post_from_a_domain_banned_site_wide(ml) -> None:
    Ban.objects.create(mailing_list=None, pattern="*@example.com")

    with pytest.raises(Reject, match="every list on this site"):
        rules.banned(make_ctx(ml, "plain.eml"))


def test_it_checks_the_envelope_sender_too(ml) -> None:
    Ban.objects.create(mailing_list=ml, pattern="*@spam.example")

    with pytest.raises(Reject, match="bulk@spam.example"):
        rules.banned(make_ctx(ml, "plain.eml", sender="bulk@spam.example"))


def test_it_ignores_bans_of_other_lists_and_other_domains(ml) -> None:
    other = services.create_list("other", "lists.example.org", actor="test")
    Ban.objects.create(mailing_list=other, pattern="alice@example.com")
    Ban.objects.create(mailing_list=None, pattern="*@notexample.com")
    Ban.objects.create(mailing_list=None, pattern="*@sub.example.com")

    assert rules.banned(make_ctx(ml, "plain.eml")) is None
