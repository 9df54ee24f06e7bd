"""CSV exports: streamed, complete, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io

from django.http import StreamingHttpResponse
from django.urls import reverse

from listkeeper.lib.addresses import Address
from listkeeper.lists import services


def rows_of(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_it_streams_every_member_of_a_list(owner_client, alpha):
    services.bulk_subscribe(
        alpha, [Address(f"u{i}@example.org", f"U {i}") for i in range(4500)], actor="test"
    )
    response = owner_client.get(reverse("list_export", args=[alpha.id]))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = rows_of(response)
    assert rows[0] == ["email", "name", "status", "role", "delivery", "joined"]
    assert len(rows) == 1 + 4500 + 1  # the owner is a member too
    assert ["u4499@example.org", "U 4499", "active", "member", "regular"] == rows[-1][:5]


def test_it_neutralises_spreadsheet_formulas(owner_client, alpha):
    services.subscribe(alpha, "=cmd@example.org", actor="test", name='=HYPERLINK("http://evil")')
    services.subscribe(alpha, "ann@example.org", actor="test", name="+1 555")
    services.subscribe(alpha, "bob@example.org", actor="test", name="@SUM(A1)")
    services.subscribe(alpha, "-x@example.org", actor="test", name="-2")
    rows = rows_of(owner_client.get(reverse("list_export", args=[alpha.id])))
    cells = {cell for row in rows[1:] for cell in row[:2]}
    assert "'=cmd@example.org" in cells and '\'=HYPERLINK("http://evil")' in cells
    assert {"'+1 555", "'@SUM(A1)", "'-x@example.org", "'-2"} <= cells
    assert not any(cell[:1] in "=+-@" for cell in cells if cell)


def test_it_exports_all_members_with_their_lists(admin_client, alpha, beta):
    services.subscribe(alpha, "ann@example.org", actor="test", name="Ann")
    services.subscribe(beta, "ann@example.org", actor="test")
    left = services.subscribe(beta, "bob@example.org", actor="test").subscription
    services.unsubscribe(left, actor="test")
    rows = rows_of(admin_client.get(reverse("members_export")))
    assert rows[0] == ["email", "name", "lists"]
    by_email = {r[0]: r for r in rows[1:]}
    assert by_email["ann@example.org"] == [
        "ann@example.org",
        "Ann",
        "alpha@lists.example.org; beta@lists.example.org",
    ]
    assert by_email["bob@example.org"][2] == "beta@lists.example.org (unsubscribed)"
