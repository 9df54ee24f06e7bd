"""Notices, replies and digests in each member's own language (German here)."""

from __future__ import annotations

from datetime import timedelta
from email.header import decode_header, make_header

import pytest
from django.conf import settings
from django.utils import timezone, translation

from listkeeper.delivery import digests
from listkeeper.delivery.models import Delivery, Recipient
from listkeeper.lists import services
from listkeeper.lists.models import PostingPolicy, Role
from listkeeper.mail import moderation, process
from tests.mail.test_requests import request
from tests.support.digests import member, parsed, post
from tests.support.held import hold
from tests.support.mail import outbox

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _site_language():
    # As in the LMTP server and the worker: no request, the site's language.
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


def german(ml, address: str, role: str = Role.MEMBER):
    sub = services.subscribe(ml, address, actor="test", role=role).subscription
    services.set_language(sub.member, "de", actor="test")
    return sub


def subject_of(sent) -> str:
    return str(make_header(decode_header(str(sent.message["Subject"]))))


def test_the_held_post_notice_goes_to_each_moderator_in_their_language(ml) -> None:
    german(ml, "eigner@example.org", Role.OWNER)
    services.subscribe(ml, "mod@example.org", actor="test", role=Role.MODERATOR)
    hold(ml, subject="Billige Uhren")

    assert moderation.notify_held(ml)

    by_reader = {tuple(sent.to): sent for sent in outbox()}
    assert sorted(by_reader) == [("eigner@example.org",), ("mod@example.org",)]
    de, en = by_reader[("eigner@example.org",)], by_reader[("mod@example.org",)]
    assert subject_of(de) == "1 Beitrag wartet auf Moderation bei Community"
    assert "„Billige Uhren“ von stranger@outside.example" in de.text
    assert "Hier freigeben, ablehnen oder verwerfen:" in de.text
    assert "Zurückgehaltene Beiträge werden nach 14 Tagen automatisch abgelehnt." in de.text
    assert subject_of(en) == "1 post waiting for moderation on Community"
    assert "Approve, reject or discard them here:" in en.text


def test_a_rejected_post_is_explained_to_its_sender_in_their_language(ml) -> None:
    german(ml, "anna@example.org")
    held = hold(ml, sender="anna@example.org", subject="Frage")

    moderation.reject(held, "mod@example.org")

    [notice] = outbox()
    assert notice.to == ["anna@example.org"]
    assert subject_of(notice) == "Ihre Nachricht an Community wurde nicht zugestellt"
    text = notice.text
    assert "Ihre Nachricht an die Liste community@lists.example.org wurde nicht" in text
    assert "Grund: ein Moderator hat ihn abgelehnt" in text
    assert "Betreff: Frage" in text
    assert "community-owner@lists.example.org" in text


def test_an_expired_post_is_explained_in_the_senders_language(ml) -> None:
    german(ml, "anna@example.org")
    hold(ml, sender="anna@example.org", subject="Frage")

    assert moderation.expire_held(timezone.now() + timedelta(days=15)) == 1

    [notice] = outbox()
    assert "Grund: kein Moderator hat ihn innerhalb von 14 Tagen freigegeben" in notice.text


def test_a_command_reply_is_in_the_members_language(ml) -> None:
    german(ml, "dana@example.com")

    process.handle_request(ml, request("help"), "dana@example.com")
    process.handle_request(ml, request("digest on"), "dana@example.com")

    help_reply, digest_reply = outbox()
    assert subject_of(help_reply) == "Hilfe zur Liste Community"
    assert "Dies ist die Befehlsadresse der Liste Community" in help_reply.text
    assert "die Liste sofort verlassen" in help_reply.text
    assert subject_of(digest_reply) == "Ihre Anfrage „Sammelmails senden an“ an Community"
    assert "Ab der nächsten Sammelmail erhält dana@example.com die Sammelmail" in digest_reply.text


def test_a_command_reply_to_someone_who_chose_no_language_is_in_the_sites(ml) -> None:
    services.subscribe(ml, "dana@example.com", actor="test")

    process.handle_request(ml, request("help"), "dana@example.com")

    [reply] = outbox()
    assert subject_of(reply) == "Help for the list Community"


def test_each_digest_reader_gets_the_issue_in_their_language_once(community) -> None:
    community.posting_policy = PostingPolicy.OPEN
    community.save()
    member(community, "mime@example.net", "digest")
    anna = member(community, "anna@example.net", "digest")
    services.set_language(anna.member, "de", actor="test")
    member(community, "plain@example.net", "digest-plain")
    post(community, "Topic 0")

    issue = digests.cut(community, actor="test")

    assert issue is not None and issue.recipients == 3
    builds = Delivery.objects.filter(digest=issue).order_by("id")
    readers = {
        d.id: sorted(Recipient.objects.filter(delivery=d).values_list("email", flat=True))
        for d in builds
    }
    assert sorted(readers.values()) == [
        ["anna@example.net"],
        ["mime@example.net"],
        ["plain@example.net"],
    ]
    by_reader = {readers[d.id][0]: parsed(d.message) for d in builds}
    de, en = by_reader["anna@example.net"], by_reader["mime@example.net"]
    assert de["Subject"] == "Community Sammelmail, Jahrgang 1, Ausgabe 1"
    assert en["Subject"] == "Community Digest, Vol 1, Issue 1"
    de_toc, _posts, de_footer = de.iter_parts()
    assert "Themen dieser Ausgabe:" in de_toc.get_content()
    assert "Abbestellen: @@UNSUBSCRIBE_URL@@" in de_footer.get_content()
    en_toc = next(en.iter_parts())
    assert "Today's Topics:" in en_toc.get_content()
