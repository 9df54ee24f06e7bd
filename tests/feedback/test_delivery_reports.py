from __future__ import annotations

import pytest
from django.core.management import call_command

from listkeeper.feedback import dsn
from listkeeper.feedback.models import DeliveryEvent, EventKind
from listkeeper.lists.models import Status, Subscription, Suppression

from .conftest import ledger_row, make_post, store_report

# (sample, member it is about, sent to the VERP address?, what the member sees)
SAMPLES = [
    ("postfix-ses-refused.eml", "carol@example.net", True, "disabled"),
    ("postfix-expired.eml", "carol@example.net", True, "scored"),
    ("postfix-delayed.eml", "carol@example.net", True, "unchanged"),
    ("postfix-ses-unverified.eml", "carol@example.net", True, "unchanged"),
    ("gmail.eml", "dave@gmail.com", True, "disabled"),
    ("ses-forwarded.eml", "heidi@mail.example.com", True, "disabled"),
    ("exim.eml", "erin@example.com", True, "disabled"),
    ("exim-mailbox-full.eml", "erin@example.com", True, "scored"),
    ("microsoft365.eml", "frank@contoso.com", True, "disabled"),
    ("exchange-legacy.eml", "ivan@corp.example.com", True, "disabled"),
    ("yahoo.eml", "grace@yahoo.com", True, "disabled"),
    # Without a VERP token nothing proves who the report is about.
    ("gmail.eml", "dave@gmail.com", False, "unchanged"),
    ("exim.eml", "erin@example.com", False, "unchanged"),
    ("yahoo.eml", "grace@yahoo.com", False, "unchanged"),
    ("yahoo-dsn.eml", "grace@yahoo.com", True, "disabled"),
    ("ses-complaint-arf.eml", "judy@yahoo.com", True, "unsubscribed"),
    ("out-of-office.eml", "carol@example.net", True, "unchanged"),
]


def outcome(sub: Subscription) -> str:
    sub.refresh_from_db()
    suppression = Suppression.objects.filter(key=sub.member.key).first()
    # A report by mail acts on the list it came back from, never site-wide.
    if sub.status == Status.DISABLED and suppression is None:
        return "disabled"
    if sub.status == Status.UNSUBSCRIBED and suppression is None:
        return "unsubscribed"
    if sub.status == Status.ACTIVE and suppression is None:
        return {0.0: "unchanged", 1.0: "scored"}.get(sub.bounce_score, f"score {sub.bounce_score}")
    return f"{sub.status} suppressed={suppression and suppression.bulk_only}"


@pytest.mark.parametrize(("sample", "email", "verp", "expected"), SAMPLES)
def test_it_reads_real_world_reports(members, delivery, sample, email, verp, expected) -> None:
    row = ledger_row(delivery, email)
    inbound = store_report(members, sample, row if verp else None)

    result = dsn.process_inbound(inbound)

    subs = {
        s.member.email: s
        for s in Subscription.objects.filter(mailing_list=members).select_related("member")
    }
    assert outcome(subs[email]) == expected, result
    others = [outcome(s) for address, s in subs.items() if address != email]
    assert others == ["unchanged"] * len(others)
    inbound.refresh_from_db()
    assert inbound.processed is not None and inbound.result == result
    assert (inbound.unproven == "") == verp, inbound.unproven
    if not verp:
        assert DeliveryEvent.objects.count() == 0
    if expected in ("disabled", "scored", "unsubscribed"):
        event = DeliveryEvent.objects.get()
        assert (event.email, event.post_id) == (email, delivery.post_id)
        if verp:
            assert event.recipient_id == row.id


def test_it_says_why_a_hard_bounced_member_was_disabled(members, delivery) -> None:
    dsn.process_inbound(store_report(members, "gmail.eml", ledger_row(delivery, "dave@gmail.com")))

    sub = Subscription.objects.get(member__key="dave@gmail.com")
    assert sub.status == Status.DISABLED
    assert "5.1.1" in sub.disabled_reason and "does not exist" in sub.disabled_reason


def test_it_leaves_a_hard_bounced_member_out_of_the_next_post(members, delivery) -> None:
    dsn.process_inbound(
        store_report(members, "postfix-ses-refused.eml", ledger_row(delivery, "carol@example.net"))
    )

    following = make_post(members, "Next week")

    emails = set(following.recipients.values_list("email", flat=True))
    assert "carol@example.net" not in emails
    assert "bystander@example.org" in emails and len(emails) == 8


def test_it_counts_one_copy_once_when_postfix_and_ses_both_report_it(members, delivery) -> None:
    row = ledger_row(delivery, "carol@example.net")
    dsn.process_inbound(store_report(members, "postfix-expired.eml", row))
    dsn.process_inbound(store_report(members, "postfix-expired.eml", row))

    assert DeliveryEvent.objects.filter(kind=EventKind.SOFT_BOUNCE).count() == 1


def test_it_processes_stored_reports_from_the_command(members, delivery, capsys) -> None:
    first = store_report(members, "gmail.eml", ledger_row(delivery, "dave@gmail.com"))
    second = store_report(members, "yahoo.eml", ledger_row(delivery, "grace@yahoo.com"))

    call_command("process-bounces")

    out = capsys.readouterr().out
    assert "2 delivery report(s) processed" in out
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.processed and second.processed
    assert set(
        Subscription.objects.filter(status=Status.DISABLED).values_list("member__key", flat=True)
    ) == {
        "dave@gmail.com",
        "grace@yahoo.com",
    }
    call_command("process-bounces")
    assert "0 delivery report(s) processed" in capsys.readouterr().out


def test_it_records_garbage_without_failing(members) -> None:
    inbound = store_report(members, "gmail.eml")
    inbound.raw = b"\x00\xff not an email at all"
    inbound.save()

    result = dsn.process_inbound(inbound)

    assert result.startswith("ignored")
    assert Subscription.objects.filter(status=Status.ACTIVE).count() == 9
