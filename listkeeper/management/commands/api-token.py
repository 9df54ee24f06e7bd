"""listkeeper api-token create EMAIL [--name NAME] | list [EMAIL] | revoke TOKEN-OR-HINT"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from listkeeper.api.models import ApiToken, hash_token
from listkeeper.lists.services import audit


class Command(BaseCommand):
    help = "Create, list and revoke API tokens. A token acts as its user."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a token and print it once")
        create.add_argument("email", help="The user the token acts as")
        create.add_argument("--name", default="", help="What the token is for")
        listing = sub.add_parser("list", help="Show tokens (never their secret)")
        listing.add_argument("email", nargs="?", default="")
        revoke = sub.add_parser("revoke", help="Revoke a token")
        revoke.add_argument("token", help="The token itself, or the hint `list` shows")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _user(self, email: str) -> Any:
        users = get_user_model().objects.filter(email__iexact=email.strip())
        if users.count() != 1:
            found = "no user" if not users else f"{users.count()} users"
            raise CommandError(
                f"{found} with the address {email!r}; create one with "
                "`listkeeper createsuperuser` or check the spelling"
            )
        return users.get()

    def _create(self, options: dict[str, Any]) -> None:
        user = self._user(options["email"])
        token, plain = ApiToken.issue(user, name=options["name"])
        audit("command:api-token", "api_token.create", user=user.email, hint=token.hint)
        self.stderr.write(f"Token {token.hint}… for {user.email}. It is shown once; keep it safe:")
        self.stdout.write(plain)

    def _list(self, options: dict[str, Any]) -> None:
        tokens = ApiToken.objects.select_related("user")
        if options["email"]:
            tokens = tokens.filter(user__email__iexact=options["email"].strip())
        for t in tokens:
            used = f"{t.last_used:%Y-%m-%d %H:%M}" if t.last_used else "never"
            self.stdout.write(
                f"{t.hint}  {t.user.email}  {t.name or '-'}  created {t.created:%Y-%m-%d}  used {used}"
            )

    def _revoke(self, options: dict[str, Any]) -> None:
        given = options["token"].strip().rstrip("…")
        matches = ApiToken.objects.filter(key_hash=hash_token(given))
        if not matches:
            matches = ApiToken.objects.filter(hint=given)
        if len(matches) != 1:
            raise CommandError(
                f"{len(matches) or 'no'} tokens match {given[:10]!r}; "
                "give the whole token or a hint from `listkeeper api-token list`"
            )
        token = matches[0]
        audit("command:api-token", "api_token.revoke", user=token.user.email, hint=token.hint)
        token.delete()
        self.stdout.write(f"Revoked {token.hint}… of {token.user.email}")
