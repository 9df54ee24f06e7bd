from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from listkeeper.delivery.models import RecipientState
from listkeeper.feedback import ses
from listkeeper.lists import services
from listkeeper.lists.models import Role, Status, Subscription, Suppression
from tests.support.feedback import make_post, verp_address
from tests.support.sns_signing import bounce_event


@pytest.fixture
def owner(members):
    services.subscribe(members, "owner@example.org", actor="test", role=Role.OWNER)
    return User.objects.create_user("owner", "owner@example.org", "x")


@pytest.fixture
def bounced(members):
    """A post whose copy to carol SES reported as a permanent bounce."""
    delivery = make_post(members)
    delivery.recipients.update(state=RecipientState.SENT, sent_at=timezone.now())
    row = delivery.recipients.get(email="carol@example.net")
    ses.process_event(bounce_event(["carol@example.net"], source=verp_address(members, row)))
    return delivery


def page(client, ml):
    return client.get(f"/lists/{ml.id}/deliverability/")


def test_it_shows_an_owner_rates_chart_posts_and_disabled_members(
    client, owner, members, bounced
) -> None:
    client.force_login(owner)

    response = page(client, members)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html and "<rect" in html and "<script>" not in html and "style=" not in html
    assert "1 hard bounces" in html  # the bar's tooltip for today
    assert "10.00%" in html and "above SES's review threshold" in html  # 1 of 10 copies
    assert "Saturday&#x27;s meeting" in html
    assert "carol@example.net" in html and "hard bounce" in html and "5.1.1" in html


def test_it_lets_an_owner_re_enable_a_disabled_member(client, owner, members, bounced) -> None:
    client.force_login(owner)
    sub = Subscription.objects.get(mailing_list=members, member__key="carol@example.net")

    response = client.post(f"/lists/{members.id}/deliverability/re-enable/{sub.id}/", follow=True)

    assert response.status_code == 200
    assert "enabled again" in response.content.decode()
    sub.refresh_from_db()
    assert sub.status == Status.ACTIVE and not Suppression.objects.exists()


def test_it_sends_anonymous_visitors_to_sign_in(client, members, bounced) -> None:
    sub = Subscription.objects.get(mailing_list=members, member__key="carol@example.net")

    shown = page(client, members)
    posted = client.post(f"/lists/{members.id}/deliverability/re-enable/{sub.id}/")

    assert shown.status_code == 302
    assert shown["Location"] == f"/accounts/login/?next=/lists/{members.id}/deliverability/"
    assert posted.status_code == 302 and posted["Location"].startswith("/accounts/login/")
    sub.refresh_from_db()
    assert sub.status == Status.DISABLED


@pytest.mark.parametrize("who", ["member", "other list owner"])
def test_it_hides_the_page_from_anyone_who_cannot_manage_the_list(
    client, members, bounced, who
) -> None:
    if who == "member":
        client.force_login(User.objects.create_user("carol", "dave@gmail.com", "x"))
    elif who == "other list owner":
        other = services.create_list("other", "lists.example.org", actor="test")
        services.subscribe(other, "olive@example.org", actor="test", role=Role.OWNER)
        client.force_login(User.objects.create_user("olive", "olive@example.org", "x"))
    sub = Subscription.objects.get(mailing_list=members, member__key="carol@example.net")

    assert page(client, members).status_code == 404
    assert client.post(f"/lists/{members.id}/deliverability/re-enable/{sub.id}/").status_code == 404
    sub.refresh_from_db()
    assert sub.status == Status.DISABLED


def test_it_puts_the_30_day_chart_on_the_list_page(client, owner, members, bounced) -> None:
    client.force_login(owner)

    html = client.get(f"/lists/{members.id}/").content.decode()

    assert "Bounces and complaints per day, last 30 days" in html and "<rect" in html
    assert "10.00%" in html and f"/lists/{members.id}/deliverability/" in html
