"""The REST API: token auth, JSON errors {"detail": ...}, OpenAPI at /api/openapi.json."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.parser import Parser

from listkeeper.api.auth import TokenAuth
from listkeeper.api.routers import archive, held, lists, members
from listkeeper.lib.addresses import InvalidAddress
from listkeeper.lists.services import ServiceError
from listkeeper.mail.moderation import ModerationError


class EmptyBodyParser(Parser):
    """A bodiless POST (approve, discard) means "no options", not a parse error."""

    def parse_body(self, request: HttpRequest) -> dict:
        if not request.body.strip():
            return {}
        return super().parse_body(request)


api = NinjaAPI(
    title="Listkeeper API",
    version="1",
    description=(
        "Lists, members, held posts and the web archive. Authenticate with `Authorization: Bearer <token>`; "
        "create a token with `listkeeper api-token create EMAIL`. A token acts as its user: "
        "it sees the lists that user owns or moderates."
    ),
    auth=TokenAuth(),
    urls_namespace="api",
    parser=EmptyBodyParser(),
)
api.add_router("/lists", lists.router)
api.add_router("", members.router)
api.add_router("", held.router)
api.add_router("", archive.router)


@api.exception_handler(InvalidAddress)
def invalid_address(request: HttpRequest, exc: InvalidAddress) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=422)


@api.exception_handler(ModerationError)
def moderation_error(request: HttpRequest, exc: ModerationError) -> HttpResponse:
    # The post was decided meanwhile, or cannot be sent as it is.
    return api.create_response(request, {"detail": str(exc)}, status=409)


@api.exception_handler(ServiceError)
def service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=422)
