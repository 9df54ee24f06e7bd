"""The rendered Postfix configuration: accepted by postconf, settings carried over."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from django.db import connections

from listkeeper.lib import tokens
from listkeeper.lists import services
from listkeeper.lists.routing import resolve
from listkeeper.postfix.render import SASL_MAP, Options, RenderError, render

pytestmark = pytest.mark.skipif(shutil.which("postconf") is None, reason="needs Postfix's postconf")


def postconf(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["postconf", "-c", str(config), *args], capture_output=True, text=True)


def params(config: Path) -> dict[str, str]:
    out = postconf(config, "-n").stdout
    return dict(
        line.split(" = ", 1) if " = " in line else (line.rstrip(" ="), "")
        for line in out.splitlines()
    )


def test_it_renders_a_configuration_postconf_accepts(tmp_path, settings) -> None:
    settings.SES_USER, settings.SES_PASS = "AKIAEXAMPLE", "s3cret+/="
    render(tmp_path, Options(queue_directory=tmp_path / "q", data_directory=tmp_path / "d"))
    for args in (["-n"], ["-M"], ["-P"]):
        result = postconf(tmp_path, *args)
        assert result.returncode == 0, result.stderr
        assert result.stderr == "", result.stderr


def test_it_takes_the_relay_and_limits_from_the_settings(tmp_path, settings) -> None:
    settings.RELAY_HOST = ("email-smtp.eu-west-2.amazonaws.com", 587)
    settings.RELAY_TLS_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"
    settings.MAX_MESSAGE_SIZE = 5_000_000
    settings.LMTP_LISTEN = ("127.0.0.1", 8024)
    settings.SMTP_LISTEN = ("0.0.0.0", 2525)
    render(tmp_path)
    p = params(tmp_path)
    assert p["relayhost"] == "[email-smtp.eu-west-2.amazonaws.com]:587"
    assert p["smtp_tls_security_level"] == "secure"
    assert p["smtp_tls_CAfile"] == "/etc/ssl/certs/ca-certificates.crt"
    assert p["smtp_tls_connection_reuse"] == "yes"
    assert p["relay_transport"] == "lmtp:inet:127.0.0.1:8024"
    assert p["maillog_file"] == "/dev/stdout"
    assert "permit_mynetworks" not in p["smtpd_relay_restrictions"]
    master = postconf(tmp_path, "-P").stdout
    assert "0.0.0.0:2525/inet/message_size_limit = 5000000" in master


@pytest.mark.parametrize(
    ("relay", "lmtp", "smtp_lookup", "lmtp_lookup"),
    [
        ("localhost", "lmtpd", "native", "dns, native"),
        ("email-smtp.eu-west-2.amazonaws.com", "Mail.Localhost.", "dns, native", "native"),
    ],
)
def test_a_next_hop_named_localhost_is_looked_up_without_dns(
    tmp_path, settings, relay, lmtp, smtp_lookup, lmtp_lookup
) -> None:
    # SES and a compose service name come from DNS; localhost never does
    # (RFC 6761), and asking a resolver that drops a query costs 5 s.
    settings.RELAY_HOST, settings.LMTP_LISTEN = (relay, 2526), (lmtp, 8024)
    render(tmp_path)
    p = params(tmp_path)
    assert (p["smtp_host_lookup"], p["lmtp_host_lookup"]) == (smtp_lookup, lmtp_lookup)


def test_it_renders_without_sasl_when_there_are_no_credentials(tmp_path, settings) -> None:
    settings.SES_USER = settings.SES_PASS = ""
    (tmp_path / SASL_MAP).write_text("stale")
    render(tmp_path)
    p = params(tmp_path)
    assert p["smtp_sasl_auth_enable"] == "no"
    assert "smtp_sasl_password_maps" not in p
    assert not (tmp_path / SASL_MAP).exists()
    assert p["relayhost"]


def test_it_writes_the_credentials_to_a_map_only_root_can_read(tmp_path, settings) -> None:
    settings.SES_USER, settings.SES_PASS = "AKIAEXAMPLE", "s3cret+/="
    settings.RELAY_HOST = ("email-smtp.eu-west-2.amazonaws.com", 587)
    render(tmp_path)
    sasl = tmp_path / SASL_MAP
    assert stat.S_IMODE(sasl.stat().st_mode) == 0o600
    assert sasl.read_text() == "[email-smtp.eu-west-2.amazonaws.com]:587 AKIAEXAMPLE:s3cret+/=\n"
    lookup = subprocess.run(
        ["postmap", "-q", "[email-smtp.eu-west-2.amazonaws.com]:587", f"texthash:{sasl}"],
        capture_output=True,
        text=True,
    )
    assert lookup.stdout.strip() == "AKIAEXAMPLE:s3cret+/="
    assert "s3cret" not in (tmp_path / "main.cf").read_text()


def test_it_keeps_a_database_password_in_lookup_tables_only_root_can_read(
    tmp_path, monkeypatch
) -> None:
    fake = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "listkeeper",
        "USER": "lk",
        "PASSWORD": "dbpass",
        "HOST": "db",
        "PORT": "5432",
    }
    monkeypatch.setattr(connections["default"], "settings_dict", fake)
    render(tmp_path)
    table = tmp_path / "relay_recipients.cf"
    assert stat.S_IMODE(table.stat().st_mode) == 0o600
    assert "hosts = inet:db:5432" in table.read_text()
    assert "password = dbpass" in table.read_text()
    assert "proxy:pgsql:" in params(tmp_path)["relay_recipient_maps"]


@pytest.mark.parametrize(
    "address",
    [
        "community@lists.example.org",
        "Community@Lists.Example.ORG",
        "community-request@lists.example.org",
        "community-owner@lists.example.org",
        "community-bounces@lists.example.org",
        "community-bounces+abc123@lists.example.org",
        "community+x@lists.example.org",
        "community-owner+x@lists.example.org",
        "community-admin@lists.example.org",
        "other@lists.example.org",
        "community@elsewhere.example",
        "my_list-bounces+t@lists.example.org",
        "myxlist@lists.example.org",
    ],
)
def test_it_looks_up_list_addresses_as_routing_resolves_them(
    address, tmp_path, transactional_db
) -> None:
    services.create_list("community", "lists.example.org", actor="test")
    services.create_list("my_list", "lists.example.org", actor="test")
    render(tmp_path)
    engine = "sqlite" if "sqlite" in connections["default"].settings_dict["ENGINE"] else "pgsql"
    result = subprocess.run(
        ["postmap", "-c", str(tmp_path), "-q", address, f"{engine}:{tmp_path}/relay_recipients.cf"],
        capture_output=True,
        text=True,
    )
    assert result.stderr == ""
    assert (result.stdout.strip() == "OK") == (resolve(address) is not None)


def test_it_renders_through_the_command_line(cli, tmp_path) -> None:
    result = cli(
        "postfix",
        "render",
        str(tmp_path / "etc"),
        env={"SES_USER": "AKIAX", "SES_PASS": "pw-secret"},
    )
    assert result.returncode == 0, result.stderr
    assert "pw-secret" not in result.stdout + result.stderr
    assert postconf(tmp_path / "etc", "-n").returncode == 0
    assert (tmp_path / "etc" / SASL_MAP).exists()


def test_it_names_a_missing_ca_file(tmp_path, settings) -> None:
    settings.RELAY_TLS_CA_FILE = str(tmp_path / "missing.pem")
    with pytest.raises(RenderError, match="RELAY_TLS_CA_FILE=.*missing.pem.* does not exist"):
        render(tmp_path / "etc")


@pytest.mark.parametrize(("rate", "filtered"), [(14.0, True), (0.0, False)])
def test_it_reports_ses_results_to_the_relay_gate_only_when_paced(
    tmp_path, settings, rate: float, filtered: bool
) -> None:
    settings.SES_MAX_SEND_RATE = rate
    settings.HANDOFF_POLICY = ("lmtpd", 10031)
    render(tmp_path)
    master = postconf(tmp_path, "-P").stdout
    expected = "ses/unix/smtp_delivery_status_filter = socketmap:inet:lmtpd:10031:ses-status"
    assert (expected in master) is filtered, master
    # Only the SES transport: no other delivery agent reports to the gate.
    assert master.count("delivery_status_filter") == int(filtered)


@pytest.mark.parametrize("rate", [14.0, 0.0])
def test_every_sender_waits_at_the_relay_gate_when_paced_and_only_copies_are_marked_unpaced(
    tmp_path, settings, rate: float
) -> None:
    settings.SES_MAX_SEND_RATE = rate
    render(tmp_path)
    table = f"regexp:{tmp_path / 'handoff_senders.regexp'}"

    def asked(sender: str) -> bool:
        found = subprocess.run(
            ["postmap", "-q", sender, table], capture_output=True, text=True, check=False
        )
        assert found.returncode in (0, 1), found.stderr
        return found.stdout.strip() == "listkeeper_handoff"

    verp = "community-bounces+" + tokens.verp_token(42) + "@lists.example.org"
    assert asked(verp), "a personalised copy must always be recorded"
    # A shared copy, a notice's null sender (smtpd looks up "<>"), a bounce probe.
    others = ["community-bounces@lists.example.org", "<>", "community-bounces+probe-ab@x.org"]
    assert [asked(s) for s in others] == [rate > 0] * 3
