from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from listkeeper.feedback.models import DeliveryEvent, EventKind, SnsMessage
from listkeeper.lists.models import Status, Subscription, Suppression
from tests.support.feedback import ledger_row, make_post, post_sns, verp_address
from tests.support.sns_signing import (
    SUBSCRIBE_URL,
    bounce_event,
    complaint_event,
    delivery_event,
    notification,
    sign,
    subscription_confirmation,
)


def statuses(ml) -> dict[str, str]:
    return dict(Subscription.objects.filter(mailing_list=ml).values_list("member__key", "status"))


@pytest.mark.parametrize("subject", [None, "Amazon SES Email Event Notification"])
@pytest.mark.parametrize("version", ["1", "2"])
def test_it_disables_a_member_ses_reports_as_permanently_bouncing(
    client, fake_sns, members, version, subject
) -> None:
    extra = {"Subject": subject} if subject else {}
    message = sign(notification(bounce_event(["carol@example.net"]), **extra), version)

    response = post_sns(client, message)

    assert response.status_code == 200, response.content
    after = statuses(members)
    assert after.pop("carol@example.net") == Status.DISABLED
    assert set(after.values()) == {Status.ACTIVE}
    assert Suppression.objects.filter(key="carol@example.net", bulk_only=False).exists()
    assert Subscription.objects.get(member__key="carol@example.net").disabled_reason.startswith(
        "hard bounce"
    )


@pytest.mark.parametrize("form", ["notificationType", "eventType"])
def test_it_unsubscribes_every_complaining_recipient(client, fake_sns, members, form) -> None:
    event = complaint_event(["dave@gmail.com", "grace@yahoo.com"], form=form)

    response = post_sns(client, sign(notification(event), "2"))

    assert response.status_code == 200
    after = statuses(members)
    assert after["dave@gmail.com"] == after["grace@yahoo.com"] == Status.UNSUBSCRIBED
    assert after["carol@example.net"] == Status.ACTIVE
    assert set(Suppression.objects.values_list("key", "bulk_only")) == {
        ("dave@gmail.com", True),
        ("grace@yahoo.com", True),
    }


def test_it_leaves_a_complainer_out_of_the_next_ledger(client, fake_sns, members) -> None:
    post_sns(client, sign(notification(complaint_event(["dave@gmail.com"], form="eventType"))))

    following = make_post(members, "Next week")

    assert "dave@gmail.com" not in set(following.recipients.values_list("email", flat=True))
    assert following.total == 8


def test_it_scores_a_transient_bounce_without_disabling(client, fake_sns, members) -> None:
    event = bounce_event(
        ["erin@example.com", "frank@contoso.com"], "Transient", "MailboxFull", form="eventType"
    )

    assert post_sns(client, sign(notification(event))).status_code == 200

    subs = Subscription.objects.filter(member__key__in=["erin@example.com", "frank@contoso.com"])
    assert [(s.status, s.bounce_score) for s in subs] == [(Status.ACTIVE, 1.0)] * 2
    assert not Suppression.objects.exists()


def test_it_links_a_notification_to_the_post_through_the_verp_sender(
    client, fake_sns, members
) -> None:
    delivery = make_post(members)
    row = ledger_row(delivery, "heidi@mail.example.com")
    event = delivery_event(["heidi@mail.example.com"], source=verp_address(members, row))

    assert post_sns(client, sign(notification(event))).status_code == 200

    recorded = DeliveryEvent.objects.get()
    assert (recorded.kind, recorded.post_id, recorded.recipient_id) == (
        EventKind.DELIVERED,
        delivery.post_id,
        row.id,
    )
    assert statuses(members)["heidi@mail.example.com"] == Status.ACTIVE


def test_it_acts_once_on_a_message_sns_delivers_twice(client, fake_sns, members) -> None:
    message = sign(notification(complaint_event(["dave@gmail.com"])))

    assert post_sns(client, message).status_code == 200
    second = post_sns(client, message)

    assert second.status_code == 200 and b"already processed" in second.content
    assert DeliveryEvent.objects.count() == 1
    assert SnsMessage.objects.filter(verified=True).count() == 1


def test_it_confirms_a_subscription_to_an_allowed_topic(client, db, fake_sns) -> None:
    response = post_sns(client, sign(subscription_confirmation()))

    assert response.status_code == 200
    assert fake_sns.opened == [SUBSCRIBE_URL]


def _forged(message: dict) -> dict:
    signed = sign(message)
    signed["Message"] = signed["Message"].replace("carol@example.net", "bystander@example.org")
    return signed


def _other_key(message: dict) -> dict:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return sign(message, "2", key=rsa.generate_private_key(public_exponent=65537, key_size=2048))


OLD = datetime.now(UTC) - timedelta(hours=2)
BOUNCE = bounce_event(["carol@example.net"])
REFUSALS = {
    "forged message": lambda: _forged(notification(BOUNCE)),
    "signed with another key": lambda: _other_key(notification(BOUNCE)),
    "wrong topic": lambda: sign(
        notification(BOUNCE, topic="arn:aws:sns:eu-west-2:999999999999:other")
    ),
    "certificate on another host": lambda: sign(
        notification(
            BOUNCE, SigningCertURL="https://sns.eu-west-2.amazonaws.com.evil.example/cert.pem"
        )
    ),
    "certificate on an S3 bucket host": lambda: sign(
        notification(BOUNCE, SigningCertURL="https://sns.s3-eu-west-2.amazonaws.com/cert.pem")
    ),
    "certificate over http": lambda: sign(
        notification(BOUNCE, SigningCertURL="http://sns.eu-west-2.amazonaws.com/cert.pem")
    ),
    "old timestamp": lambda: sign(notification(BOUNCE, when=OLD)),
    "unknown signature version": lambda: sign(notification(BOUNCE), "3"),
    "subscription to another topic": lambda: sign(
        subscription_confirmation(topic="arn:aws:sns:eu-west-2:999999999999:other")
    ),
    "subscribe URL elsewhere": lambda: sign(
        subscription_confirmation(subscribe_url="https://attacker.example/confirm")
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_it_refuses_and_records_a_message_that_fails_verification(
    client, fake_sns, members, case
) -> None:
    before = statuses(members)

    response = post_sns(client, REFUSALS[case]())

    assert response.status_code == 403
    assert statuses(members) == before
    assert not DeliveryEvent.objects.exists() and not Suppression.objects.exists()
    assert fake_sns.opened == []
    assert all(url.startswith("https://sns.eu-west-2.amazonaws.com/") for url in fake_sns.fetched)
    refused = SnsMessage.objects.get()
    assert not refused.verified and refused.reason
    assert "BEGIN" not in refused.reason  # no key or certificate material in the record


def test_it_refuses_a_body_that_is_not_json(client, db, fake_sns) -> None:
    response = client.post("/hooks/ses/", data="hello", content_type="text/plain")
    assert response.status_code == 403
    assert SnsMessage.objects.get().reason == "body is not JSON"


def test_it_fetches_the_signing_certificate_once(client, fake_sns, members) -> None:
    for address in ["carol@example.net", "dave@gmail.com"]:
        post_sns(client, sign(notification(delivery_event([address]))))

    assert len(fake_sns.fetched) == 1
    assert DeliveryEvent.objects.count() == 2


def test_it_records_an_event_type_it_does_not_act_on(client, fake_sns, members) -> None:
    event = {"eventType": "Open", "open": {}, "mail": {"destination": ["carol@example.net"]}}

    response = post_sns(client, sign(notification(event)))

    assert response.status_code == 200 and b"ignored" in response.content
    assert SnsMessage.objects.get().result == "ignored: Open event"
    assert not DeliveryEvent.objects.exists()
