"""The SES account's real quota: its send rate and its rolling 24-hour allowance.

SES states both per account (`GetAccount` in the v2 API, `GetSendQuota` in the
classic one) and counts every recipient. Listkeeper reads them through boto3
when it can (the optional `ses` extra and AWS API credentials; SMTP
credentials cannot call the API), keeps the last answer in one `SESQuota` row
and uses it twice:

- the worker paces at SES's MaxSendRate when that is below SES_MAX_SEND_RATE;
- before a fan-out would go over the 24-hour quota, the worker sends what fits
  and holds the rest (the rows stay pending), releasing copies as SES's rolling
  window frees. Nothing fails and nothing is dropped: SES would refuse the
  excess with `454 Throttling failure: Daily message quota exceeded`, and
  Postfix would retry it for days at most.

What is left is worked out from SES's figures and our own counters: what SES
counted when it answered, plus what we handed to Postfix since (the
deliveries' `handed_off` counters, so no scan of the ledger), minus what
workers hold claimed. What leaves SES's rolling window is seen at the next
answer (every minute while copies are held); mail sent from the same account
by anything else, likewise.

Without boto3, credentials or permission (AccessDenied) the feature is off:
the reason is logged once and shown on the status page, pacing uses
SES_MAX_SEND_RATE alone and nothing is held. See docs/ses.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone

from listkeeper.delivery.models import Delivery, JobState, Recipient, RecipientState, SESQuota

log = logging.getLogger(__name__)

QUOTA_ID = 1
# Figures older than this are not acted on (they are still shown, with their age).
STALE_AFTER = timedelta(hours=1)
# While copies are held, SES is asked this often whether its window has freed.
HELD_REFRESH = 60.0
TIMEOUT = 10.0  # seconds for one API call; the worker never waits on it

_logged: str | None = None  # the last reason logged, so each is logged once


class QuotaUnavailable(Exception):
    """SES's quota cannot be read; the message says why and what to do."""


@dataclass(frozen=True)
class Quota:
    max_send_rate: float
    max_24h_send: float
    sent_last_24h: float


def disabled_reason() -> str:
    """Why the quota is not read at all ("" when it is)."""
    if settings.SES_QUOTA_REFRESH <= 0:
        return "SES_QUOTA_REFRESH is 0"
    host = settings.RELAY_HOST[0]
    relays_to_ses = host.startswith("email-smtp.") and host.endswith(".amazonaws.com")
    if not (relays_to_ses or settings.SES_API_ENDPOINT):
        return f"RELAY_HOST {host} is not SES and SES_API_ENDPOINT is not set"
    try:
        import boto3  # noqa: F401
    except ImportError:
        return "boto3 is not installed (pip install 'listkeeper[ses]')"
    return ""


def fetch() -> Quota:
    """Ask SES: the v2 `GetAccount`, else the classic `GetSendQuota`."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    # A new session each time: credentials rotated in the environment or in
    # AWS_SHARED_CREDENTIALS_FILE are read again (a session keeps what it found).
    session = boto3.session.Session(region_name=settings.SES_REGION)
    options: dict[str, object] = {
        "config": Config(
            connect_timeout=TIMEOUT, read_timeout=TIMEOUT, retries={"max_attempts": 2}
        ),
    }
    if settings.SES_API_ENDPOINT:
        options["endpoint_url"] = settings.SES_API_ENDPOINT
    try:
        account = session.client("sesv2", **options).get_account()
        quota = account.get("SendQuota") or {}
        if "MaxSendRate" in quota and "Max24HourSend" in quota:
            return Quota(
                float(quota["MaxSendRate"]),
                float(quota["Max24HourSend"]),
                float(quota.get("SentLast24Hours", 0)),
            )
        first = "GetAccount returned no SendQuota"
    except NoCredentialsError:
        raise QuotaUnavailable(
            "no AWS API credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "AWS_SHARED_CREDENTIALS_FILE or an instance role; SES SMTP credentials cannot "
            "call the API)"
        ) from None
    except ClientError as exc:
        first = f"GetAccount: {_client_error(exc)}"
    except BotoCoreError as exc:
        raise QuotaUnavailable(f"cannot reach the SES API: {exc}") from None
    try:
        quota = session.client("ses", **options).get_send_quota()
    except ClientError as exc:
        raise QuotaUnavailable(
            f"SES refused {first}; GetSendQuota: {_client_error(exc)} "
            "(allow ses:GetAccount or ses:GetSendQuota to the API credentials)"
        ) from None
    except BotoCoreError as exc:
        raise QuotaUnavailable(f"cannot reach the SES API: {exc}") from None
    return Quota(
        float(quota["MaxSendRate"]),
        float(quota["Max24HourSend"]),
        float(quota.get("SentLast24Hours", 0)),
    )


def _client_error(exc: Exception) -> str:
    error = getattr(exc, "response", {}).get("Error", {})
    return f"{error.get('Code', 'error')} ({error.get('Message', '')})".replace(" ()", "")


def _row() -> SESQuota:
    row, _ = SESQuota.objects.get_or_create(id=QUOTA_ID)
    return row


def due(every: float, now: datetime | None = None) -> bool:
    """Whether this process should ask SES now; only one of several workers is told yes."""
    now = now or timezone.now()
    _row()
    cutoff = now - timedelta(seconds=every)
    return bool(
        SESQuota.objects.filter(
            Q(checked__isnull=True) | Q(checked__lt=cutoff), id=QUOTA_ID
        ).update(checked=now)
    )


def store(result: Quota | QuotaUnavailable, now: datetime | None = None) -> SESQuota:
    """Keep SES's answer (or why there is none), logging each new reason once."""
    global _logged
    now = now or timezone.now()
    row = _row()
    row.checked = now
    if isinstance(result, Quota):
        row.max_send_rate = result.max_send_rate
        row.max_24h_send = result.max_24h_send
        row.sent_last_24h = result.sent_last_24h
        row.fetched = now
        row.handed_off_at_fetch = _handed_off()
        row.error = ""
        if _logged is not None:
            log.info("SES quota readable again")
        _logged = None
    else:
        row.error = str(result)[:500]
        if _logged != row.error:
            log.warning("SES quota not read, pacing at SES_MAX_SEND_RATE alone: %s", row.error)
            _logged = row.error
    row.save()
    return row


def refresh(now: datetime | None = None) -> SESQuota:
    """Fetch and store (tests and `serve`; the worker fetches outside its database thread)."""
    try:
        result: Quota | QuotaUnavailable = fetch()
    except QuotaUnavailable as exc:
        result = exc
    return store(result, now)


def _handed_off() -> int:
    return Delivery.objects.aggregate(n=Sum("handed_off"))["n"] or 0


def fresh(now: datetime | None = None) -> SESQuota | None:
    """The stored figures if recent enough to act on."""
    now = now or timezone.now()
    return SESQuota.objects.filter(id=QUOTA_ID, fetched__gte=now - STALE_AFTER).first()


def rate_in_use(configured: float, row: SESQuota | None) -> float:
    """The account rate to pace at: SES_MAX_SEND_RATE, or SES's own when lower.

    0 (unpaced) stays 0: it is an explicit choice for a relay that is not SES.
    """
    if configured > 0 and row is not None and row.max_send_rate > 0:
        return min(configured, row.max_send_rate)
    return configured


@dataclass(frozen=True)
class Standing:
    """The 24-hour quota now, as far as SES's last answer and our ledger tell."""

    quota: SESQuota
    used: int  # recipients SES counts in the last 24 hours (estimated)
    claimed: int  # held by workers now, about to be sent
    waiting: int  # pending or claimed copies of every delivery

    @property
    def left(self) -> int:
        """What may still be claimed now."""
        return max(0, int(self.quota.max_24h_send) - self.used - self.claimed)

    @property
    def held(self) -> int:
        """Copies that must wait for the window to free."""
        return max(0, self.waiting - max(0, int(self.quota.max_24h_send) - self.used))


def standing(now: datetime | None = None) -> Standing | None:
    now = now or timezone.now()
    row = fresh(now)
    if row is None or row.fetched is None or row.max_24h_send <= 0:
        return None
    since = max(0, _handed_off() - row.handed_off_at_fetch)
    # Through the open deliveries: the ledger's (delivery, state) index, not a scan.
    open_ids = Delivery.objects.filter(state__in=[JobState.PENDING, JobState.RUNNING]).values("id")
    counts = Recipient.objects.filter(
        delivery_id__in=open_ids, state__in=[RecipientState.PENDING, RecipientState.CLAIMED]
    ).aggregate(waiting=Count("id"), claimed=Count("id", filter=Q(state=RecipientState.CLAIMED)))
    used = int(row.sent_last_24h) + since
    return Standing(quota=row, used=used, claimed=counts["claimed"], waiting=counts["waiting"])


@dataclass(frozen=True)
class Overview:
    """What the dashboard, the status page and /metrics show."""

    configured_rate: float  # SES_MAX_SEND_RATE
    rate_in_use: float  # the account rate the workers share
    row: SESQuota | None  # SES's last answer or why there is none (maybe stale)
    standing: Standing | None  # the 24-hour quota now, when SES's figures are fresh


def overview(now: datetime | None = None) -> Overview:
    current = standing(now)
    configured = settings.SES_MAX_SEND_RATE
    return Overview(
        configured_rate=configured,
        rate_in_use=rate_in_use(configured, current.quota if current else None),
        row=SESQuota.objects.filter(id=QUOTA_ID).first(),
        standing=current,
    )
