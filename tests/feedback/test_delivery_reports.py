from __future__ import annotations

from django.core.management import call_command

from listkeeper.feedback import dsn
from listkeeper.feedback.models import DeliveryEvent, EventKind
from listkeeper.lists.models import Status, Subscription

from .conftest import ledger_row, make_post, store_report

# Each sample's reading and outcome: test_dsn_samples.py (tests/data/dsn/expected.toml).


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
