"""The SES stand-in behaves like SES where Listkeeper depends on it."""

from __future__ import annotations

import smtplib
import ssl

import pytest

from tests.sesstub import SESStub, busiest_window

FROM = "Community <community@lists.example.org>"


def message(sender: str = FROM, extra: str = "") -> bytes:
    return f"From: {sender}\r\n{extra}Subject: hi\r\n\r\nHello.\r\n".encode()


def connect(ses: SESStub, *, tls: bool = True, login: bool = True) -> smtplib.SMTP:
    client = smtplib.SMTP(ses.server_name, ses.port, timeout=30)
    client.ehlo("client.example.net")
    if tls:
        client.starttls(context=ssl.create_default_context(cafile=str(ses.ca.ca_file)))
        client.ehlo("client.example.net")
    if login:
        client.login(ses.username, ses.password)
    return client


def test_it_requires_starttls_before_auth_and_auth_before_mail(ses) -> None:
    with connect(ses, tls=False, login=False) as client:
        assert "auth" not in client.esmtp_features
        assert client.mail("community-bounces@lists.example.org")[0] == 530
    with connect(ses, login=False) as client:
        assert "auth" in client.esmtp_features
        assert client.mail("community-bounces@lists.example.org")[0] == 530
        client.user, client.password = ses.username, "wrong"
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.auth("PLAIN", client.auth_plain)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_it_accepts_the_configured_credentials(ses, mechanism: str) -> None:
    with connect(ses, login=False) as client:
        client.user, client.password = ses.username, ses.password
        authobject = client.auth_plain if mechanism == "PLAIN" else client.auth_login
        assert client.auth(mechanism, authobject, initial_response_ok=False)[0] == 235
        assert client.mail("community-bounces@lists.example.org")[0] == 250


def test_it_serves_a_certificate_for_localhost_from_the_test_ca(ses) -> None:
    client = smtplib.SMTP(ses.server_name, ses.port, timeout=30)
    client.starttls(context=ssl.create_default_context(cafile=str(ses.ca.ca_file)))
    client.quit()


def test_it_keeps_accepted_messages_with_their_envelope(ses) -> None:
    with connect(ses) as client:
        client.sendmail(
            "community-bounces+x@lists.example.org", ["a@example.com", "b@example.com"], message()
        )
    (got,) = ses.messages
    assert got.mail_from == "community-bounces+x@lists.example.org"
    assert got.rcpt_tos == ["a@example.com", "b@example.com"]
    assert got.tls and got.user == ses.username
    assert got.message["Subject"] == "hi"


@pytest.mark.parametrize(
    ("envelope", "sender", "extra"),
    [
        ("alice@gmail.com", FROM, ""),
        ("community-bounces@lists.example.org", "Alice <alice@gmail.com>", ""),
        ("community-bounces@lists.example.org", FROM, "Sender: alice@gmail.com\r\n"),
    ],
)
def test_it_rejects_unverified_identities_with_554(
    ses, envelope: str, sender: str, extra: str
) -> None:
    with connect(ses) as client, pytest.raises(smtplib.SMTPDataError) as exc:
        client.sendmail(envelope, ["a@example.com"], message(sender, extra))
    assert exc.value.smtp_code == 554
    assert b"Email address is not verified" in exc.value.smtp_error
    assert ses.messages == []


def test_it_rejects_more_than_50_recipients_with_554(ses) -> None:
    with connect(ses) as client, pytest.raises(smtplib.SMTPDataError) as exc:
        client.sendmail(
            "community-bounces@lists.example.org",
            [f"m{i}@example.com" for i in range(51)],
            message(),
        )
    assert exc.value.smtp_code == 554


def test_it_throttles_over_the_send_rate_with_454(ses) -> None:
    ses.max_rate, ses.rate_window = 3, 3600  # a long window: no dependence on timing
    codes = []
    with connect(ses) as client:
        for i in range(3):
            client.mail("community-bounces@lists.example.org")
            client.rcpt(f"m{i}@example.com")
            codes.append(client.data(message())[0])
        client.mail("community-bounces@lists.example.org")
        client.rcpt("late@example.com")
        code, text = client.data(message())
    assert codes == [250, 250, 250] and code == 454
    assert b"Maximum sending rate exceeded" in text


def test_it_counts_recipients_in_a_sliding_window_not_per_calendar_second(ses) -> None:
    ses.max_rate, ses.rate_window = 2, 3600
    with connect(ses) as client:
        client.mail("community-bounces@lists.example.org")
        client.rcpt("a@example.com")
        client.rcpt("b@example.com")
        assert client.data(message())[0] == 250
        client.mail("community-bounces@lists.example.org")
        client.rcpt("c@example.com")
        assert client.data(message())[0] == 454
    # The throttled copy is not counted: SES did not take it.
    assert [r for _, r in ses.arrivals] == ["a@example.com", "b@example.com"]
    assert ses.throttled == 1
    assert ses.busiest_window() == 2


def test_it_records_when_each_recipient_arrived(ses) -> None:
    with connect(ses) as client:
        for i in range(3):
            client.sendmail("community-bounces@lists.example.org", [f"m{i}@example.com"], message())
    times = [t for t, _ in ses.arrivals]
    assert [r for _, r in ses.arrivals] == [f"m{i}@example.com" for i in range(3)]
    assert times == sorted(times) and ses.busiest_window(3600) == 3
    assert ses.arrival_rate() > 0


def test_busiest_window_counts_half_open_windows() -> None:
    assert busiest_window([0.0, 0.5, 0.999, 1.0, 1.6]) == 3
    assert busiest_window([0.0, 1.0, 2.0]) == 1
    assert busiest_window([]) == 0


def test_it_refuses_configured_recipients_at_rcpt_with_550(ses) -> None:
    ses.reject_recipients = {"gone@example.com"}
    with connect(ses) as client:
        client.mail("community-bounces@lists.example.org")
        assert client.rcpt("gone@example.com")[0] == 550
        assert client.rcpt("here@example.com")[0] == 250


def test_it_can_stop_and_start_again_on_the_same_port(ses) -> None:
    port = ses.port
    ses.stop()
    with pytest.raises(OSError):
        smtplib.SMTP(ses.host, port, timeout=5)
    ses.start()
    assert ses.port == port
    with connect(ses) as client:
        client.sendmail("community-bounces@lists.example.org", ["a@example.com"], message())
    assert len(ses.messages) == 1
