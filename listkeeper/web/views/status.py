from __future__ import annotations

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from listkeeper.lists.models import MailingList, Status


def status(request: HttpRequest) -> HttpResponse:
    """What a newcomer sees after `make run`: lists, member counts, Postfix's state."""
    lists = MailingList.objects.annotate(
        active=Count("subscriptions", filter=Q(subscriptions__status=Status.ACTIVE))
    )
    from listkeeper.postfix import instance

    return render(
        request,
        "web/status.html",
        {"lists": lists, "postfix": instance.describe()},
    )
