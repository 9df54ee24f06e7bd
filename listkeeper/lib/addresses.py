"""Parsing and normalising email addresses; no Django, no database."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr

from django.utils.translation import gettext as _
from email_validator import EmailNotValidError, validate_email


class InvalidAddress(ValueError):
    """An address a person typed that cannot be used; str() says why."""


@dataclass(frozen=True)
class Address:
    email: str  # normalised: local part as given, domain lowercased and IDNA-encoded
    name: str = ""

    @property
    def key(self) -> str:
        """What makes two addresses the same member: case-insensitive."""
        return address_key(self.email)

    @property
    def local_part(self) -> str:
        return self.email.rpartition("@")[0]

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]


def address_key(email: str) -> str:
    return email.strip().lower()


def normalise(raw: str) -> str:
    """Return the normalised form of one bare address, or raise InvalidAddress.

    Syntax only: no DNS lookups, so imports work offline and fast.
    """
    text = raw.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    if not text:
        raise InvalidAddress(_("the address is empty"))
    if "@" not in text:
        raise InvalidAddress(_("%(text)s has no @domain part") % {"text": repr(text)})
    local, _at, domain = text.rpartition("@")
    try:
        domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidAddress(
            _("%(text)s: the domain %(domain)s is not a valid domain name")
            % {"text": repr(text), "domain": repr(domain)}
        ) from None
    try:
        result = validate_email(
            f"{local}@{domain}", check_deliverability=False, allow_smtputf8=False
        )
    except EmailNotValidError as exc:
        raise InvalidAddress(f"{text!r}: {exc}") from None
    return f"{result.local_part}@{result.ascii_domain.lower()}"


def parse(raw: str) -> Address:
    """Parse `addr`, `<addr>` or `Name <addr>` into a normalised Address."""
    text = raw.strip()
    if "<" in text and text.endswith(">"):
        name, email = parseaddr(text)
        if not email:
            raise InvalidAddress(_("%(text)s is not an address") % {"text": repr(text)})
        return Address(normalise(email), name.strip())
    return Address(normalise(text))
