"""Creating, configuring and deleting lists through the web interface."""

from __future__ import annotations

from django.urls import reverse

from listkeeper.lists import services
from listkeeper.lists.models import AuditEntry, ListSender, MailingList, Role, Subscription
from listkeeper.lists.routing import resolve
from listkeeper.web.forms import LIST_SETTINGS


def test_it_creates_a_list_that_takes_mail_at_once(admin_client):
    response = admin_client.post(
        reverse("list_create"),
        {
            "local_part": "Community",
            "display_name": "Community",
            "owner": "Olga <olga@example.org>",
        },
    )
    ml = MailingList.objects.get(local_part="community")
    assert response["Location"] == reverse("list_members", args=[ml.id])
    assert ml.domain == "lists.example.org"
    assert resolve("community@lists.example.org").mailing_list == ml
    owner = Subscription.objects.get(mailing_list=ml)
    assert (owner.member.email, owner.role) == ("olga@example.org", Role.OWNER)
    assert AuditEntry.objects.filter(action="list.create", actor="root@example.org").exists()


def test_it_explains_why_an_address_cannot_be_a_list(admin_client, alpha):
    cases = {
        "alpha": "already exists",
        "alpha-request": "request address of the list alpha",
        "bad name!": "cannot be a list name",
        "news@elsewhere.example": "Lists live at @lists.example.org",
    }
    for name, reason in cases.items():
        response = admin_client.post(reverse("list_create"), {"local_part": name})
        assert response.status_code == 200, name
        assert reason in response.content.decode(), name
    assert MailingList.objects.count() == 1


def test_it_refuses_a_name_whose_suffix_addresses_are_lists(admin_client):
    services.create_list("team-owner", "lists.example.org", actor="test")
    response = admin_client.post(reverse("list_create"), {"local_part": "team"})
    assert "would own team-owner@lists.example.org" in response.content.decode()


def settings_data(ml: MailingList, **changes: object) -> dict:
    data = {name: getattr(ml, name) for name in LIST_SETTINGS}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not False}


def test_it_saves_every_list_setting(owner_client, alpha):
    data = settings_data(
        alpha,
        display_name="Alpha Team",
        description="Talk about alpha",
        posting_policy="announce",
        nonmember_action="reject",
        unauthenticated_action="accept",
        subject_tag="[alpha]",
        reply_to="author",
        personalised=False,
        footer=False,
        public=False,
        send_welcome=False,
        send_goodbye=True,
        max_message_size=2048,
        held_expiry_days=3,
        bounce_score_threshold=2.5,
        posters="Boss <boss@example.org>\nchief@example.org",
        allowed="friend@example.net",
    )
    response = owner_client.post(reverse("list_edit", args=[alpha.id]), data)
    assert response.status_code == 302
    alpha.refresh_from_db()
    assert (alpha.display_name, alpha.posting_policy, alpha.nonmember_action) == (
        "Alpha Team",
        "announce",
        "reject",
    )
    assert alpha.unauthenticated_action == "accept"
    assert (alpha.subject_tag, alpha.reply_to, alpha.personalised, alpha.footer) == (
        "[alpha]",
        "author",
        False,
        False,
    )
    assert (alpha.public, alpha.send_welcome, alpha.send_goodbye) == (False, False, True)
    assert (alpha.max_message_size, alpha.held_expiry_days, alpha.bounce_score_threshold) == (
        2048,
        3,
        2.5,
    )
    senders = set(ListSender.objects.filter(mailing_list=alpha).values_list("email", "kind"))
    assert senders == {
        ("boss@example.org", "poster"),
        ("chief@example.org", "poster"),
        ("friend@example.net", "allowed"),
    }
    entry = AuditEntry.objects.filter(action="list.update").get()
    assert entry.actor == "owner@example.org"
    assert entry.details["changes"]["posting_policy"] == ["members", "announce"]


def test_it_rejects_a_bad_poster_address_and_keeps_the_settings(owner_client, alpha):
    data = settings_data(alpha, display_name="Changed", posters="not an address")
    response = owner_client.post(reverse("list_edit", args=[alpha.id]), data)
    assert response.status_code == 200
    assert "not an address" in response.content.decode()
    alpha.refresh_from_db()
    assert alpha.display_name == "Alpha"


def test_it_says_what_deleting_a_list_loses_and_deletes_only_when_confirmed(admin_client, alpha):
    services.subscribe(alpha, "ann@example.org", actor="test")
    services.subscribe(alpha, "bob@example.org", actor="test")
    page = admin_client.get(reverse("list_delete", args=[alpha.id])).content.decode()
    assert "2 subscriptions (2 active)" in page
    response = admin_client.post(
        reverse("list_delete", args=[alpha.id]), {"confirm": "wrong"}, follow=True
    )
    assert "Nothing was deleted" in response.content.decode()
    assert MailingList.objects.filter(id=alpha.id).exists()
    admin_client.post(
        reverse("list_delete", args=[alpha.id]), {"confirm": "alpha@lists.example.org"}
    )
    assert not MailingList.objects.filter(id=alpha.id).exists()
    assert resolve("alpha@lists.example.org") is None


def test_it_words_held_post_expiry_the_same_on_settings_and_queue(admin_client, alpha):
    from tests.support.html import text, texts

    services.update_list(alpha, actor="test", held_expiry_days=3)
    settings_page = admin_client.get(reverse("list_edit", args=[alpha.id])).content
    label = [t for t in texts(settings_page, "label") if "held posts" in t]
    assert label == ["Reject held posts after (days)"]
    queue = admin_client.get(reverse("held_posts", args=[alpha.id])).content
    assert text(queue, id="held-expiry") == (
        "Posts wait here for a moderator. A post nobody approves within 3 days is rejected, "
        "and its sender is told so."
    )
