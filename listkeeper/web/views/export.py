"""Streamed CSV exports: a list's members, or every member with their lists.

Rows are read in keyset-ordered chunks and written as they come, so a
100,000-member export never sits in memory or holds a request before the
first byte.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone

from listkeeper.lists import permissions
from listkeeper.lists.models import MailingList, Status, Subscription
from listkeeper.web.access import managed_list, managed_list_ids, visible_members

CHUNK = 2000
# A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_stream(header: list[str], rows: Iterable[list[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # so spreadsheets read the file as UTF-8
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([neutralise(v) for v in row])


def _response(filename: str, stream: Iterator[str]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _list_rows(ml: MailingList) -> Iterator[list[Any]]:
    last = 0
    while True:
        chunk = list(
            Subscription.objects.filter(mailing_list=ml, id__gt=last)
            .order_by("id")
            .values_list(
                "id", "member__email", "member__name", "status", "role", "delivery", "created"
            )[:CHUNK]
        )
        if not chunk:
            return
        for _sub_id, email, name, status, role, delivery, created in chunk:
            yield [email, name, status, role, delivery, created.date().isoformat()]
        last = chunk[-1][0]


@login_required
def list_csv(request: HttpRequest, list_id: int) -> StreamingHttpResponse:
    ml = managed_list(request, list_id)
    stamp = timezone.now().strftime("%Y%m%d")
    return _response(
        f"{ml.local_part}-members-{stamp}.csv",
        _csv_stream(["email", "name", "status", "role", "delivery", "joined"], _list_rows(ml)),
    )


def _all_rows(request: HttpRequest) -> Iterator[list[Any]]:
    members = visible_members(request)
    subs = Subscription.objects.all()
    if not permissions.is_site_admin(request.user):
        subs = subs.filter(mailing_list_id__in=managed_list_ids(request))
    addresses = dict(
        (ml.id, ml.address) for ml in MailingList.objects.only("id", "local_part", "domain")
    )
    last = 0
    while True:
        chunk = list(
            members.filter(id__gt=last).order_by("id").values_list("id", "email", "name")[:CHUNK]
        )
        if not chunk:
            return
        lists: dict[int, list[str]] = {}
        for member_id, list_id, status in subs.filter(
            member_id__in=[c[0] for c in chunk]
        ).values_list("member_id", "mailing_list_id", "status"):
            label = addresses.get(list_id, "")
            lists.setdefault(member_id, []).append(
                label if status == Status.ACTIVE else f"{label} ({status})"
            )
        for member_id, email, name in chunk:
            yield [email, name, "; ".join(sorted(lists.get(member_id, [])))]
        last = chunk[-1][0]


@login_required
def all_csv(request: HttpRequest) -> StreamingHttpResponse:
    stamp = timezone.now().strftime("%Y%m%d")
    return _response(
        f"members-{stamp}.csv", _csv_stream(["email", "name", "lists"], _all_rows(request))
    )
