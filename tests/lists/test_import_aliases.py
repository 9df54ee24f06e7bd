from __future__ import annotations

from io import StringIO
from pathlib import Path

from django.core.management import CommandError, call_command

from listkeeper.lists import services
from listkeeper.lists.models import AuditEntry, MailingList, Member, Source, Status, Subscription

REPO = Path(__file__).resolve().parents[2]


def run_import(path: Path, *args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("import_aliases", str(path), *args, stdout=out, stderr=err)
    except CommandError as exc:
        err.write(f"{exc}\n")
        return exc.returncode, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "virtual"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def memberships() -> set[tuple[str, str]]:
    return set(Subscription.objects.values_list("mailing_list__local_part", "member__email"))


def test_it_reads_comments_blank_lines_continuations_and_separators(db, tmp_path) -> None:
    path = write(
        tmp_path,
        "# The lists\n"
        "\n"
        "community@lists.example.org   alice@example.org, bob@example.com\n"
        "   # a comment between continuation lines\n"
        "\n"
        "    carol@example.org,dave@example.com,,  erin@example.org\n"
        "\terin2@example.org\tfrank@example.org ,\n"
        "team@lists.example.org alice@example.org\n",
    )
    code, out, err = run_import(path)
    assert code == 0, err
    assert memberships() == {
        ("community", "alice@example.org"),
        ("community", "bob@example.com"),
        ("community", "carol@example.org"),
        ("community", "dave@example.com"),
        ("community", "erin@example.org"),
        ("community", "erin2@example.org"),
        ("community", "frank@example.org"),
        ("team", "alice@example.org"),
    }
    assert "lists: 2 (2 created), members created: 7, subscriptions created: 8" in out


def test_it_reads_crlf_line_endings(db, tmp_path) -> None:
    path = write(
        tmp_path, b"community@lists.example.org a@example.org,\r\n  b@example.org\r\n\r\n# x\r\n"
    )
    code, _, err = run_import(path)
    assert code == 0, err
    assert memberships() == {("community", "a@example.org"), ("community", "b@example.org")}


def test_it_merges_repeated_targets_and_makes_one_member_per_person(db, tmp_path) -> None:
    path = write(
        tmp_path,
        "community@lists.example.org bob@example.org, Bob@Example.ORG bob@example.org\n"
        "team@lists.example.org BOB@example.org\n",
    )
    code, out, err = run_import(path)
    assert code == 0, err
    assert Member.objects.count() == 1
    assert Subscription.objects.count() == 2
    assert "members created: 1, subscriptions created: 2" in out


def test_it_merges_a_list_that_appears_twice(db, tmp_path) -> None:
    path = write(
        tmp_path,
        "community@lists.example.org a@example.org\nCommunity@lists.example.org b@example.org\n",
    )
    code, _, err = run_import(path)
    assert code == 0, err
    assert MailingList.objects.count() == 1
    assert memberships() == {("community", "a@example.org"), ("community", "b@example.org")}
    assert "virtual:2: community@lists.example.org repeats line 1" in err


def test_it_reports_commands_files_and_local_names_without_importing_them(db, tmp_path) -> None:
    path = write(
        tmp_path,
        "community@lists.example.org alice@example.org,\n"
        "    |/usr/local/bin/archive, /var/mail/archive\n"
        "    :include:/etc/more, bob, carol@example.org\n",
    )
    code, out, err = run_import(path)
    assert code == 1
    assert memberships() == {("community", "alice@example.org"), ("community", "carol@example.org")}
    assert f"{path}:2: '|/usr/local/bin/archive' is a command" in err
    assert f"{path}:2: '/var/mail/archive' is a file" in err
    assert f"{path}:3: ':include:/etc/more' is an include file" in err
    assert f"{path}:3: 'bob' is a local name" in err
    assert "skipped: 4" in out


def test_it_reports_invalid_addresses_with_their_line_and_imports_the_rest(db, tmp_path) -> None:
    path = write(
        tmp_path,
        "community@lists.example.org good@example.org,\n"
        "    bad@@example.org, also-good@example.org\n"
        "    trailing-dot.@example.org\n"
        "nodomain@ x@example.org\n"
        "announce z@example.org\n"
        "@example.net catchall@example.org\n"
        "ok@lists.example.org y@example.org\n",
    )
    code, out, err = run_import(path)
    assert code == 1
    assert memberships() == {
        ("community", "good@example.org"),
        ("community", "also-good@example.org"),
        ("ok", "y@example.org"),
    }
    assert f"{path}:2: 'bad@@example.org'" in err
    assert f"{path}:3: 'trailing-dot.@example.org'" in err
    assert f"{path}:4: the list address 'nodomain@'" in err
    assert f"{path}:5: 'announce' is a local name without @domain, not a list address" in err
    assert f"{path}:6: '@example.net' is a catch-all" in err
    assert "lists: 2 (2 created)" in out
    assert "skipped: 5" in out


def test_it_reports_a_continuation_line_with_no_entry_before_it(db, tmp_path) -> None:
    path = write(tmp_path, "   orphan@example.org\ncommunity@lists.example.org a@example.org\n")
    code, _, err = run_import(path)
    assert code == 1
    assert f"{path}:1: a continuation line" in err
    assert memberships() == {("community", "a@example.org")}


def test_it_reports_a_list_address_that_cannot_be_a_list(community, tmp_path) -> None:
    path = write(tmp_path, "community-owner@lists.example.org a@example.org, b@example.org\n")
    code, _, err = run_import(path)
    assert code == 1
    assert f"{path}:1: community-owner@lists.example.org is the owner address of the list" in err
    assert "skipped with its 2 member(s)" in err
    assert Member.objects.count() == 0


def test_it_changes_nothing_when_run_a_second_time(db, tmp_path) -> None:
    path = write(
        tmp_path,
        "community@lists.example.org a@example.org, b@example.org\nteam@lists.example.org a@example.org\n",
    )
    assert run_import(path)[0] == 0
    sub = Subscription.objects.get(
        mailing_list__local_part="community", member__email="b@example.org"
    )
    services.unsubscribe(sub, actor="b@example.org")
    before = (
        memberships(),
        AuditEntry.objects.count(),
        Member.objects.count(),
        list(Subscription.objects.values_list("id", "status").order_by("id")),
    )
    code, out, err = run_import(path)
    assert code == 0, err
    after = (
        memberships(),
        AuditEntry.objects.count(),
        Member.objects.count(),
        list(Subscription.objects.values_list("id", "status").order_by("id")),
    )
    assert after == before
    sub.refresh_from_db()
    assert sub.status == Status.UNSUBSCRIBED
    assert (
        "lists: 2 (0 created), members created: 0, subscriptions created: 0, already there: 3, skipped: 0"
        in out
    )


def test_it_writes_nothing_on_a_dry_run(db, tmp_path) -> None:
    path = write(tmp_path, "community@lists.example.org a@example.org, b@example.org, |cmd\n")
    code, out, err = run_import(path, "--dry-run")
    assert code == 1
    assert "Dry run, nothing written" in out
    assert "lists: 1 (1 created), members created: 2, subscriptions created: 2" in out
    assert f"{path}:1: '|cmd' is a command" in err
    assert MailingList.objects.count() == Member.objects.count() == AuditEntry.objects.count() == 0


def test_it_imports_through_the_services_with_source_and_actor(db, tmp_path) -> None:
    path = write(tmp_path, "community@lists.example.org a@example.org\n")
    run_import(path)
    assert Subscription.objects.get().source == Source.IMPORT
    actions = set(AuditEntry.objects.values_list("actor", "action"))
    assert ("command:import-aliases", "list.create") in actions
    assert ("command:import-aliases", "bulk_subscribe") in actions


def test_it_imports_a_list_outside_the_configured_domain(db, tmp_path, settings) -> None:
    settings.LISTKEEPER_DOMAIN = "lists.example.org"
    path = write(tmp_path, "community@lists.sasalliance.org a@example.org\n")
    code, out, _ = run_import(path)
    assert code == 0
    assert MailingList.objects.get().address == "community@lists.sasalliance.org"
    assert "lists.sasalliance.org" in out


def test_it_does_nothing_with_if_empty_when_a_list_exists(community, tmp_path) -> None:
    path = write(tmp_path, "other@lists.example.org a@example.org\n")
    code, out, _ = run_import(path, "--if-empty")
    assert code == 0
    assert "already holds 1 list" in out
    assert not MailingList.objects.filter(local_part="other").exists()


def test_it_imports_with_if_empty_into_an_empty_database(db, tmp_path) -> None:
    path = write(tmp_path, "other@lists.example.org a@example.org\n")
    assert run_import(path, "--if-empty")[0] == 0
    assert MailingList.objects.filter(local_part="other").exists()


def test_it_imports_the_shipped_seed_file_cleanly(db) -> None:
    code, out, err = run_import(REPO / "postfix" / "virtual_aliases.cf")
    assert code == 0, err
    ml = MailingList.objects.get()
    assert ml.address == "community@lists.sasalliance.org"
    domains = {e.rpartition("@")[2] for e in Member.objects.values_list("email", flat=True)}
    assert domains <= {"example.org", "example.com"} and Member.objects.count() >= 3


def test_it_names_a_file_it_cannot_read(db, tmp_path) -> None:
    code, _, err = run_import(tmp_path / "missing")
    assert code == 1
    assert f"cannot read {tmp_path / 'missing'}" in err


def test_it_exits_non_zero_from_the_command_line_when_something_was_skipped(cli, tmp_path) -> None:
    path = write(tmp_path, "community@lists.example.org a@example.org, nobody\n")
    result = cli("import-aliases", str(path))
    assert result.returncode == 1
    assert f"{path}:1: 'nobody' is a local name" in result.stderr
    assert "subscriptions created: 1, already there: 0, skipped: 1" in result.stdout
    assert memberships() == {("community", "a@example.org")}


def test_it_gives_every_imported_list_without_an_owner_the_owner_named(db, tmp_path) -> None:
    owned = services.create_list("owned", "lists.example.org", actor="test")
    services.subscribe(owned, "boss@example.org", actor="test", role="owner")
    path = write(
        tmp_path,
        "community@lists.example.org alice@example.org, chair@example.net\n"
        "owned@lists.example.org alice@example.org\n",
    )

    code, out, err = run_import(path, "--owner", "chair@example.net")

    assert code == 0, err
    owners = set(
        Subscription.objects.filter(role="owner").values_list(
            "mailing_list__local_part", "member__email"
        )
    )
    assert owners == {("community", "chair@example.net"), ("owned", "boss@example.org")}
    assert "owner added to: 1" in out


def test_it_refuses_an_owner_address_in_a_list_domain(db, tmp_path) -> None:
    path = write(tmp_path, "community@lists.example.org alice@example.org\n")

    code, _, err = run_import(path, "--owner", "admin@lists.example.org")

    assert code != 0 and "domain Listkeeper serves" in err
    assert not MailingList.objects.exists()
