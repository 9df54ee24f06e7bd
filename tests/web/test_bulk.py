"""Bulk add: read paste or CSV, preview counts and problem rows, then add."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from listkeeper.lists import services
from listkeeper.lists.models import AuditEntry, Subscription
from listkeeper.web.address_import import UnreadableInput, decode, read_pasted, read_rows
from listkeeper.web.models import BulkImport, ImportState
from tests.support.html import attrs, parse, texts


def parsed(text: str) -> list[tuple[int, str, str, str]]:
    return [
        (
            r.line,
            r.address.email if r.address else "",
            r.address.name if r.address else "",
            "bad" if r.error else "",
        )
        for r in read_rows(text)
    ]


def test_it_reads_a_csv_with_a_header_in_any_column_order():
    text = 'Name,Email,Notes\nAnn,ann@example.org,x\n\n"Example, Bob",BOB@EXAMPLE.ORG,\n'
    assert parsed(text) == [
        (2, "ann@example.org", "Ann", ""),
        (4, "BOB@example.org", "Example, Bob", ""),
    ]


def test_it_reads_first_and_last_name_columns():
    text = "email;first name;last name\nann@example.org;Ann;Example\n"
    assert parsed(text) == [(2, "ann@example.org", "Ann Example", "")]


def pasted(text: str) -> list[tuple[int, str, str, str]]:
    return [
        (
            r.line,
            r.address.email if r.address else r.raw,
            r.address.name if r.address else "",
            "bad" if r.error else "",
        )
        for r in read_pasted(text)
    ]


def test_it_reads_an_outlook_line_of_several_named_addresses():
    line = "John Roe <john.roe@example.org>; Mary Major <mary.major@example.org>"
    assert pasted(line) == [
        (1, "john.roe@example.org", "John Roe", ""),
        (1, "mary.major@example.org", "Mary Major", ""),
    ]


def test_it_keeps_an_unclosed_quote_to_its_own_line():
    text = '"Ann Example <ann@example.org>\nbob@example.org\nCarol <carol@example.org>\n'
    assert pasted(text) == [
        (1, '"Ann Example <ann@example.org>', "", "bad"),
        (2, "bob@example.org", "", ""),
        (3, "carol@example.org", "Carol", ""),
    ]


def test_it_reads_pasted_lists_in_the_forms_mail_clients_write():
    text = (
        "ann@example.org\n"
        "Roe, John <john@example.org>\n"  # Outlook: "Last, First" unquoted
        '"Major, Mary" <mary@example.org>, bob@example.org (Bob Example)\n'
        "dave@example.org, Dave\n"
        "erin@example.org frank@example.org;gina@example.org\n"
        "\n"
        "not-an-address\n"
    )
    assert pasted(text) == [
        (1, "ann@example.org", "", ""),
        (2, "john@example.org", "Roe, John", ""),
        (3, "mary@example.org", "Major, Mary", ""),
        (3, "bob@example.org", "Bob Example", ""),
        (4, "dave@example.org", "Dave", ""),
        (5, "erin@example.org", "", ""),
        (5, "frank@example.org", "", ""),
        (5, "gina@example.org", "", ""),
        (7, "not-an-address", "", "bad"),
    ]


def test_it_reads_rows_without_a_header_and_pasted_name_addr_forms():
    text = (
        "ann@example.org\n"
        "Bob Example <bob@example.org>\n"
        "Example, Carol <carol@example.org>\n"
        "dave@example.org,Dave\n"
        "erin@example.org, frank@example.org\n"
    )
    assert parsed(text) == [
        (1, "ann@example.org", "", ""),
        (2, "bob@example.org", "Bob Example", ""),
        (3, "carol@example.org", "Example, Carol", ""),
        (4, "dave@example.org", "Dave", ""),
        (5, "erin@example.org", "", ""),
        (5, "frank@example.org", "", ""),
    ]


def test_it_strips_a_byte_order_mark_and_refuses_text_that_is_not_utf8():
    assert decode("\ufeffemail\nann@example.org\n".encode()) == "email\nann@example.org\n"
    assert parsed(decode("\ufeffemail\nann@example.org\n".encode())) == [
        (2, "ann@example.org", "", "")
    ]
    with pytest.raises(UnreadableInput, match="not UTF-8.*CSV UTF-8"):
        decode("email\nJosé <jose@example.org>\n".encode("latin-1"))


def test_it_refuses_a_header_without_an_email_column():
    with pytest.raises(UnreadableInput, match="no column called 'email'"):
        list(read_rows("name,phone\nAnn,123\n"))


def test_it_marks_bad_rows_with_their_line():
    rows = list(read_rows("email,name\nann@example.org,Ann\nnot-an-address,X\n,Empty\n"))
    assert [(r.line, bool(r.error)) for r in rows] == [(2, False), (3, True), (4, True)]
    assert "not-an-address" in rows[1].error


CSV = (
    "email,name\n"
    "ann@example.org,Ann\n"  # line 2: new
    "bob@example.org,Bob\n"  # line 3: already a member of alpha
    "broken-address,Nobody\n"  # line 4: invalid
    "ANN@example.org,Ann again\n"  # line 5: duplicate of line 2
    "carol@example.org,Carol\n"  # line 6: had left alpha, rejoins
    "@,x\n"  # line 7: invalid
)


def upload(
    client: Client, lists: list[int], content: bytes = CSV.encode(), name: str = "people.csv"
):
    return client.post(
        reverse("bulk_new"), {"lists": lists, "file": SimpleUploadedFile(name, content, "text/csv")}
    )


def test_it_previews_counts_and_every_problem_row_before_adding_anyone(owner_client, alpha):
    services.subscribe(alpha, "bob@example.org", actor="test")
    carol = services.subscribe(alpha, "carol@example.org", actor="test").subscription
    services.unsubscribe(carol, actor="test")
    before = Subscription.objects.filter(mailing_list=alpha, status="active").count()
    response = upload(owner_client, [alpha.id], ("\ufeff" + CSV).encode())
    job = BulkImport.objects.get()
    assert response["Location"] == reverse("bulk", args=[job.id])
    assert (job.state, job.rows, job.valid, job.invalid, job.duplicates) == ("preview", 6, 3, 2, 1)
    assert job.summary[str(alpha.id)] == {"new": 1, "back": 1, "already": 1}
    body = owner_client.get(reverse("bulk", args=[job.id])).content.decode()
    page = parse(body)
    assert (page.by_id("count-invalid").text, page.by_id("count-duplicates").text) == ("2", "1")
    problems = [[c.text for c in row.iter("td")] for row in page.with_class("problem", "tr")]
    assert [line for line, _, _ in problems] == ["3", "4", "5", "7"]
    for (_, value, message), text in zip(
        problems,
        [
            "already a member of alpha@lists.example.org",
            "broken-address",
            "same address as line 2",
            "@",
        ],
        strict=True,
    ):
        assert text in f"{value} {message}"
    assert "Add 2 subscriptions" in body
    assert Subscription.objects.filter(mailing_list=alpha, status="active").count() == before


def test_it_adds_the_valid_rows_on_commit_to_every_chosen_list(admin_client, alpha, beta):
    services.subscribe(alpha, "bob@example.org", actor="test")
    upload(admin_client, [alpha.id, beta.id])
    job = BulkImport.objects.get()
    response = admin_client.post(reverse("bulk_commit", args=[job.id]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.state == ImportState.DONE and job.done == job.total == 6
    assert set(
        Subscription.objects.filter(mailing_list=beta).values_list("member__email", "member__name")
    ) == {("ann@example.org", "Ann"), ("bob@example.org", "Bob"), ("carol@example.org", "Carol")}
    assert Subscription.objects.filter(mailing_list=alpha, status="active").count() == 3
    assert job.result[str(alpha.id)] == {"added": 2, "reactivated": 0, "already": 1}
    assert AuditEntry.objects.filter(action="bulk_subscribe", actor="root@example.org").count() == 2
    # A second commit of the same import changes nothing.
    admin_client.post(reverse("bulk_commit", args=[job.id]))
    assert Subscription.objects.filter(mailing_list=beta).count() == 3


def test_it_accepts_pasted_text(owner_client, alpha):
    owner_client.post(
        reverse("bulk_new"), {"lists": [alpha.id], "text": "Ann <ann@example.org>\nbob@example.org"}
    )
    job = BulkImport.objects.get()
    assert (job.source_name, job.valid) == ("pasted text", 2)


def test_it_previews_every_pasted_address_with_the_name_it_will_use(owner_client, alpha):
    owner_client.post(
        reverse("bulk_new"),
        {
            "lists": [alpha.id],
            "text": "John Roe <john.roe@example.org>; Mary Major <mary.major@example.org>",
        },
    )
    job = BulkImport.objects.get()
    assert (job.rows, job.valid, job.invalid, job.duplicates) == (2, 2, 0, 0)
    page = owner_client.get(reverse("bulk", args=[job.id])).content
    assert texts(page, "tr")[-2:] == [
        "john.roe@example.org John Roe",
        "mary.major@example.org Mary Major",
    ]
    owner_client.post(reverse("bulk_commit", args=[job.id]))
    assert set(
        Subscription.objects.filter(mailing_list=alpha).values_list("member__email", "member__name")
    ) >= {("john.roe@example.org", "John Roe"), ("mary.major@example.org", "Mary Major")}


def test_it_explains_an_unreadable_upload(owner_client, alpha):
    response = upload(
        owner_client, [alpha.id], "email\nJosé <jose@example.org>\n".encode("latin-1"), "old.csv"
    )
    assert response.status_code == 200
    assert "old.csv: The file is not UTF-8" in response.content.decode()
    response = upload(owner_client, [alpha.id], b"name,phone\nAnn,1\n", "nomail.csv")
    job = BulkImport.objects.get()
    assert job.state == ImportState.FAILED
    assert (
        "no column called &#x27;email&#x27;"
        in owner_client.get(response["Location"]).content.decode()
    )


def test_it_needs_a_list_and_some_input(owner_client, alpha):
    body = owner_client.post(reverse("bulk_new"), {"text": "a@example.org"}).content.decode()
    assert "Tick at least one list" in body
    body = owner_client.post(reverse("bulk_new"), {"lists": [alpha.id]}).content.decode()
    assert "Paste some addresses or choose a CSV file" in body


def test_it_cancels_a_preview(owner_client, alpha):
    upload(owner_client, [alpha.id])
    job = BulkImport.objects.get()
    owner_client.post(reverse("bulk_cancel", args=[job.id]))
    owner_client.post(reverse("bulk_commit", args=[job.id]))
    job.refresh_from_db()
    assert job.state == ImportState.CANCELLED
    assert not Subscription.objects.filter(member__key="ann@example.org").exists()


def test_it_resumes_an_import_whose_worker_died(admin_client, alpha):
    upload(admin_client, [alpha.id])
    job = BulkImport.objects.get()
    # As if the process died mid-import: importing, nobody's heartbeat for minutes.
    BulkImport.objects.filter(id=job.id).update(
        state=ImportState.IMPORTING, total=3, heartbeat=None
    )
    admin_client.get(reverse("bulk", args=[job.id]))
    job.refresh_from_db()
    assert job.state == ImportState.DONE
    assert Subscription.objects.filter(mailing_list=alpha).count() == 3


def test_it_shows_progress_on_a_page_that_refreshes_itself(admin_client, admin_user, alpha):
    job = BulkImport.objects.create(
        created_by=admin_user,
        actor="root",
        source_name="big.csv",
        state=ImportState.IMPORTING,
        valid=100000,
        total=100000,
        done=25000,
        heartbeat=timezone.now(),
    )
    job.lists.set([alpha])
    body = admin_client.get(reverse("bulk", args=[job.id])).content.decode()
    assert attrs(body, "meta", **{"http-equiv": "refresh"}) == [
        {"http-equiv": "refresh", "content": "2"}
    ]
    assert [(a["max"], a["value"]) for a in attrs(body, "progress")] == [("100000", "25000")]
    assert "25000 of 100000 (25%)" in body
    job.refresh_from_db()
    assert job.state == ImportState.IMPORTING  # its worker is alive: not started twice


@pytest.mark.django_db(transaction=True)
def test_it_runs_a_large_import_in_the_background_with_progress(settings, admin_user, alpha):
    settings.BULK_IMPORT_THREADS = True
    client = Client()
    client.force_login(admin_user)
    rows = "email,name\n" + "".join(f"user{i}@example.org,User {i}\n" for i in range(5000))
    upload(client, [alpha.id], rows.encode())
    job = BulkImport.objects.get()
    for _ in range(600):
        job.refresh_from_db()
        if job.state in (ImportState.PREVIEW, ImportState.FAILED):
            break
        client.get(reverse("bulk", args=[job.id])).content.decode()
        time.sleep(0.05)
    assert job.state == ImportState.PREVIEW, job.error
    client.post(reverse("bulk_commit", args=[job.id]))
    for _ in range(600):
        job.refresh_from_db()
        if job.state in (ImportState.DONE, ImportState.FAILED):
            break
        client.get(reverse("bulk", args=[job.id]))
        time.sleep(0.05)
    assert job.state == ImportState.DONE, job.error
    assert Subscription.objects.filter(mailing_list=alpha).count() == 5000
    assert "Done" in client.get(reverse("bulk", args=[job.id])).content.decode()
