"""`listkeeper createadmin EMAIL`: a site admin with a generated password, printed once.

There is no default password: each run generates one. `--if-none` does nothing
but say how to sign in when a site admin exists already (what `make run` calls);
without EMAIL it asks for one on a terminal.

The address must reach a real mailbox: notices about held posts of lists
without owners go there. One in a domain Listkeeper serves is refused, since
our own Postfix accepts only list addresses there.
"""

from __future__ import annotations

import secrets
import sys
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from listkeeper.lib.addresses import InvalidAddress, parse
from listkeeper.lists.routing import serves_domain
from listkeeper.lists.services import audit


def _interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


class Command(BaseCommand):
    help = "Create a site admin (or give an existing one a new password) and print the password."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "email",
            nargs="?",
            help="the admin's address, a real mailbox (asked for on a terminal if left out)",
        )
        parser.add_argument(
            "--if-none",
            action="store_true",
            help="only when no site admin exists yet; otherwise just print where to sign in",
        )

    def _ask(self) -> str:
        if not _interactive():
            return ""
        return input("The site admin's email address (held-post notices go there): ").strip()

    def handle(self, *args: Any, **options: Any) -> None:
        login_url = f"{settings.SITE_URL}/accounts/login/"
        User = get_user_model()
        if options["if_none"] and User.objects.filter(is_superuser=True, is_active=True).exists():
            self.stdout.write(
                f"Sign in at {login_url} with your site admin account.\n"
                "Forgotten the password? `listkeeper createadmin EMAIL` sets a new one."
            )
            return
        raw = options["email"] or self._ask()
        if not raw:
            raise CommandError(
                "Give the admin's email address (a mailbox you read: notices about held "
                "posts go there): listkeeper createadmin you@example.org"
            )
        try:
            addr = parse(raw)
        except InvalidAddress as exc:
            raise CommandError(f"{exc}. Give an address like you@example.org.") from None
        if serves_domain(addr.domain):
            raise CommandError(
                f"{addr.email} is in {addr.domain}, a domain Listkeeper serves: its Postfix "
                "accepts only list addresses there, so notices to this admin would never "
                "arrive. Give an address at your own mail provider, e.g. you@example.org."
            )
        password = secrets.token_urlsafe(12)
        user = User.objects.filter(username=addr.key).first()
        created = user is None
        if user is None:
            user = User(username=addr.key, email=addr.email)
        user.is_superuser = user.is_staff = user.is_active = True
        user.set_password(password)
        user.save()
        audit(
            "command:createadmin", "user.create" if created else "user.password", email=addr.email
        )
        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"{'Created the' if created else 'New password for'} site admin {addr.email}.",
                    f"  Sign in at: {login_url}",
                    f"  Email:      {addr.email}",
                    f"  Password:   {password}",
                    "This password is shown only now; change it after signing in (Password, top right).",
                    "",
                ]
            )
        )
