"""Fixtures every end-to-end test may use: the mail path through the real
Postfix (`mailpath`, `lmtpd`) and the SNS stand-in (`fake_sns`)."""

from __future__ import annotations

from tests.support.feedback import fake_sns  # noqa: F401 (a fixture, used by name)
from tests.support.mailpath import lmtpd, mailpath  # noqa: F401 (fixtures, used by name)
