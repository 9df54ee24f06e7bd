from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from listkeeper.lists import services
from listkeeper.lists.models import MailingList, Member, Subscription


def snapshot() -> tuple[set[str], set[tuple[str, str]]]:
    lists = {ml.address for ml in MailingList.objects.all()}
    subs = {
        (s.mailing_list.address, s.member.email)
        for s in Subscription.objects.select_related("mailing_list", "member")
    }
    return lists, subs


def test_it_round_trips_through_an_empty_database(community, tmp_path) -> None:
    team = services.create_list("team", "lists.sasalliance.org", actor="test")
    services.create_list("quiet", "lists.example.org", actor="test")
    for addr in ["alice@example.org", "Bob@Example.com", "carol@example.org"]:
        services.subscribe(community, addr, actor="test")
    services.subscribe(team, "bob@example.com", actor="test")
    before = snapshot()
    path = tmp_path / "export.cf"
    call_command("export-aliases", str(path), stderr=StringIO())

    MailingList.objects.all().delete()
    Member.objects.all().delete()
    call_command("import-aliases", str(path), stdout=StringIO(), stderr=StringIO())

    assert snapshot() == before
    assert Member.objects.count() == 3


def test_it_exports_active_members_only_in_virtual_syntax(community) -> None:
    services.subscribe(community, "alice@example.org", actor="test")
    gone = services.subscribe(community, "bob@example.org", actor="test").subscription
    services.unsubscribe(gone, actor="test")
    out = StringIO()
    call_command("export-aliases", stdout=out)
    lines = [line for line in out.getvalue().splitlines() if line and not line.startswith("#")]
    assert lines == ["community@lists.example.org", "    alice@example.org"]
