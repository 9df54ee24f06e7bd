"""The status page: lists, Postfix and where it relays to, deliveries, the catcher's outbox.

Site administrators only: it names every list (also non-public ones), post
subjects, workers, file paths and outbox recipients. Probes use /healthz.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from listkeeper.delivery import catcher, quota
from listkeeper.lists.models import MailingList, Status
from listkeeper.postfix import instance
from listkeeper.web.access import site_admin_required


def relay_description(relay: instance.Relay | None) -> str:
    """Where Postfix sends list mail, in words, from the configuration it runs with."""
    if relay is None:
        return _("no Postfix configuration has been written yet (listkeeper serve writes one)")
    where = f"[{relay.host}]:{relay.port}"
    if relay.host.endswith(".amazonaws.com"):
        kind = "Amazon SES"
    elif relay.host in ("127.0.0.1", "::1", "localhost") and not relay.sasl and relay.tls == "none":
        # What serve sets up without SES_USER (serving.CatchingPostfix).
        return _(
            "the local catcher at %(where)s: nobody is mailed, every copy is kept in %(dir)s"
        ) % {"where": where, "dir": catcher.outbox_dir()}
    else:
        kind = "RELAY_HOST"
    auth = _("signs in with SASL") if relay.sasl else _("without SASL (no SES_USER)")
    tls = _("TLS with the certificate checked") if relay.tls == "secure" else _("no TLS")
    return _("%(kind)s at %(where)s, %(auth)s, %(tls)s") % {
        "kind": kind,
        "where": where,
        "auth": auth,
        "tls": tls,
    }


@site_admin_required
def status(request: HttpRequest) -> HttpResponse:
    lists = MailingList.objects.annotate(
        active=Count("subscriptions", filter=Q(subscriptions__status=Status.ACTIVE))
    ).order_by("domain", "local_part")
    relay = instance.configured_relay(instance.default_instance().config_dir)
    return render(
        request,
        "web/status.html",
        {
            "lists": lists,
            "postfix": instance.describe(),
            "relay": relay_description(relay),
            "ses_user_set": bool(settings.SES_USER),
            "ses": quota.overview(),
        },
    )
