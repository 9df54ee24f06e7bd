from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from listkeeper.feedback import ses, sns

log = logging.getLogger(__name__)


@csrf_exempt  # SNS cannot send a CSRF token; the message signature is the check
@require_POST
def ses_notification(request: HttpRequest) -> HttpResponse:
    """SNS → SES bounce, complaint and delivery notifications (body: text/plain JSON)."""
    remote = request.META.get("REMOTE_ADDR", "")
    message = None
    try:
        message = sns.parse(request.body)
        header_type = request.headers.get("x-amz-sns-message-type")
        if header_type and header_type != message.get("Type"):
            raise sns.Rejected("x-amz-sns-message-type header does not match the message Type")
        sns.verify(message)
    except sns.Rejected as exc:
        ses.record_rejection(message, exc.reason, remote)
        log.warning("refused an SNS message from %s: %s", remote, exc.reason)
        return HttpResponseForbidden(f"refused: {exc.reason}\n", content_type="text/plain")
    try:
        result = ses.handle(message, remote)
    except sns.ConfirmationFailed as exc:
        log.error("could not confirm the SNS subscription: %s", exc)
        return HttpResponse(
            "could not confirm the subscription\n", status=502, content_type="text/plain"
        )
    return HttpResponse(f"{result}\n", content_type="text/plain")
