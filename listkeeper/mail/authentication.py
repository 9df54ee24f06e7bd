"""Who really sent a post: DKIM, SPF and DMARC alignment of the From domain.

The From header is whatever the sender typed. Before a post gets a member's
posting rights we check what the author's domain lets us check:

- DKIM (dkimpy): every DKIM-Signature on the message as it arrived.
- SPF (pyspf): the connecting client's IP address and HELO name, read from
  the Received field our own Postfix put on top (a sender cannot write above
  it), against the envelope sender's domain (the HELO name for `<>`).
- DMARC (RFC 7489): the From domain's `_dmarc` TXT record (else its parent
  domains', as an approximation of the organisational domain), and whether a
  passing DKIM signature or SPF identity is aligned with the From domain.

Alignment is "relaxed by suffix": two domains align when they are equal or one
is a subdomain of the other (mail.example.com and example.com); strict (`s`)
alignment needs them equal. We do not ship the Public Suffix List, so two
sibling subdomains (a.example.com, b.example.com) do not align here although
RFC 7489's relaxed mode would let them: such a post fails and is held (never
lost), which errs on the safe side. A shorter side of one label (`com`) never
aligns.

DNS goes through one resolver: DNS_NAMESERVERS (default: the system's) with
a DNS_TIMEOUT per lookup. A lookup that times out or fails is a `temperror`,
never a `fail`: the rules then hold the post instead of refusing it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import dkim
import dns.exception
import dns.nameserver
import dns.resolver
import spf
from django.conf import settings

from listkeeper.mail import headers as h

log = logging.getLogger("listkeeper.mail")
# dkimpy logs a sender's broken signature or missing key as an ERROR; the
# result is in Authentication-Results, so only its own failures are shown.
_DKIM_LOG = logging.getLogger("listkeeper.mail.dkim")
_DKIM_LOG.setLevel(logging.CRITICAL)

HEADER = "Authentication-Results"
# Signatures checked per message: enough for a real path, bounded for a forged one.
MAX_SIGNATURES = 5
# Postfix's own trace field: "from HELO (NAME [IP]) ... by HOST (Postfix) with ...".
_POSTFIX_RECEIVED = re.compile(
    r"^from\s+(?P<helo>\S+)\s+\((?P<name>\S+)\s+\[(?P<ip>[^\]]+)\]\).*?\bby\s+(?P<by>\S+)\s+\(Postfix\)",
    re.DOTALL | re.IGNORECASE,
)


class DNSTempError(Exception):
    """A lookup that could not be answered now (timeout, SERVFAIL, no resolver)."""


# DNS ---------------------------------------------------------------------------


def resolver() -> dns.resolver.Resolver:
    """The resolver for every authentication lookup (DNS_NAMESERVERS, DNS_TIMEOUT)."""
    servers: list[tuple[str, int]] = list(settings.DNS_NAMESERVERS)
    try:
        res = dns.resolver.Resolver(configure=not servers)
    except dns.resolver.NoResolverConfiguration as exc:
        raise DNSTempError(f"no DNS resolver configured: {exc}") from None
    if servers:
        res.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in servers]
    res.timeout = settings.DNS_TIMEOUT
    res.lifetime = settings.DNS_TIMEOUT
    return res


def _query(name: str, qtype: str) -> list[Any]:
    try:
        return list(resolver().resolve(name, qtype, search=False))
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.name.LabelTooLong:
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
        raise DNSTempError(f"DNS lookup of {name} {qtype} failed: {exc}") from None
    except dns.exception.DNSException as exc:
        raise DNSTempError(f"DNS lookup of {name} {qtype} failed: {exc}") from None


def txt(name: str) -> list[bytes]:
    """The TXT records at `name`, each with its strings joined; [] when there are none."""
    return [b"".join(r.strings) for r in _query(name, "TXT")]


def _spf_lookup(name: str, qtype: str, strict: object = True, timeout: float = 0) -> list[Any]:
    # pyspf's DNS hook, answered by our resolver (same shapes as its dnspython driver).
    try:
        answers = _query(name, qtype)
    except DNSTempError as exc:
        raise spf.TempError(str(exc)) from None
    out: list[Any] = []
    for rdata in answers:
        if qtype in ("A", "AAAA"):
            out.append(((name, qtype), rdata.address))
        elif qtype == "MX":
            out.append(((name, qtype), (rdata.preference, rdata.exchange)))
        elif qtype == "PTR":
            out.append(((name, qtype), rdata.target.to_text(True)))
        elif qtype in ("TXT", "SPF"):
            out.append(((name, qtype), rdata.strings))
    return out


# pyspf looks names up through this module-level hook; point it at our resolver.
spf.DNSLookup = _spf_lookup


# Results ------------------------------------------------------------------------


@dataclass(frozen=True)
class Trace:
    """What our Postfix saw of the connecting client."""

    helo: str
    ip: str


@dataclass(frozen=True)
class Signature:
    domain: str
    selector: str
    result: str  # pass, fail, temperror, permerror


@dataclass
class Verdict:
    """The authentication of one message, as recorded in Authentication-Results."""

    from_domain: str = ""
    dkim: list[Signature] = field(default_factory=list)
    spf: str = "none"  # pass, fail, softfail, neutral, none, temperror, permerror
    spf_domain: str = ""
    spf_scope: str = "mailfrom"  # or "helo" for the null sender
    dmarc: str = "none"  # pass, fail, none (no record), temperror, permerror
    policy: str = ""  # the From domain's DMARC policy: none, quarantine, reject
    client_ip: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def enforced(self) -> bool:
        """The From domain asks receivers to distrust mail that fails DMARC."""
        return self.policy in ("quarantine", "reject")

    def summary(self) -> str:
        """One line a moderator can read: why this post is or is not authenticated."""
        sigs = ", ".join(f"{s.result} (d={s.domain})" for s in self.dkim) or "none"
        text = f"DKIM {sigs}; SPF {self.spf}"
        if self.spf_domain:
            text += f" ({self.spf_domain})"
        text += f"; DMARC {self.dmarc}"
        if self.policy:
            text += f" (p={self.policy})"
        if self.errors:
            text += "; " + "; ".join(self.errors)
        return text

    def header_value(self, authserv_id: str) -> str:
        parts = [authserv_id]
        for sig in self.dkim or [Signature("", "", "none")]:
            part = f"dkim={sig.result}"
            if sig.domain:
                part += f" header.d={sig.domain} header.s={sig.selector}"
            parts.append(part)
        spf_part = f"spf={self.spf}"
        if self.spf_domain:
            prop = "smtp.mailfrom" if self.spf_scope == "mailfrom" else "smtp.helo"
            spf_part += f" {prop}={self.spf_domain}"
        parts.append(spf_part)
        dmarc_part = f"dmarc={self.dmarc}"
        if self.policy:
            dmarc_part += f" (p={self.policy})"
        if self.from_domain:
            dmarc_part += f" header.from={self.from_domain}"
        parts.append(dmarc_part)
        return "; ".join(parts)

    def header(self, authserv_id: str) -> bytes:
        return h.fold_ascii(HEADER, self.header_value(authserv_id))


def authserv_id() -> str:
    return str(settings.POSTFIX_HOSTNAME)


# The checks ---------------------------------------------------------------------


def postfix_trace(block: h.HeaderBlock) -> Trace | None:
    """The client our own Postfix received the message from (its Received on top)."""
    if not block.fields or h.field_name(block.fields[0]).lower() != "received":
        return None
    match = _POSTFIX_RECEIVED.match(h.field_value(block.fields[0]))
    if match is None or match.group("by").lower() != authserv_id().lower():
        return None
    ip = match.group("ip")
    ip = ip[5:] if ip.lower().startswith("ipv6:") else ip
    return Trace(helo=match.group("helo"), ip=ip)


def _from_domain(block: h.HeaderBlock) -> str:
    pairs = block.addresses("From")
    if len(pairs) != 1:
        return ""  # DMARC needs exactly one author
    return pairs[0][1].rpartition("@")[2].strip().rstrip(".").lower()


def _dkim_lookup(errors: list[str]) -> Any:
    def lookup(name: bytes, timeout: float = 5) -> bytes | None:
        text = name.decode("ascii", "replace").rstrip(".")
        try:
            records = txt(text)
        except DNSTempError as exc:
            errors.append(str(exc))
            raise dkim.DnsTimeoutError(str(exc)) from None
        return records[0] if records else None

    return lookup


def check_dkim(wire: bytes) -> tuple[list[Signature], list[str]]:
    errors: list[str] = []
    block, _ = h.split(wire)
    count = min(len(block.get_all("DKIM-Signature")), MAX_SIGNATURES)
    results: list[Signature] = []
    for index in range(count):
        before = len(errors)
        verifier = dkim.DKIM(wire, logger=_DKIM_LOG, timeout=int(settings.DNS_TIMEOUT) or 1)
        try:
            ok = verifier.verify(idx=index, dnsfunc=_dkim_lookup(errors))
        except dkim.DKIMException as exc:
            # A changed body is a signature that fails; anything else is unusable.
            bad = "fail" if "body hash mismatch" in str(exc) else "permerror"
            results.append(Signature(_text(verifier, "domain"), _text(verifier, "selector"), bad))
            log.info("DKIM signature %d: %s", index, exc)
            continue
        except Exception as exc:  # a malformed signature must not stop the post
            results.append(
                Signature(_text(verifier, "domain"), _text(verifier, "selector"), "permerror")
            )
            log.info("DKIM signature %d unusable: %s: %s", index, type(exc).__name__, exc)
            continue
        result = "pass" if ok else ("temperror" if len(errors) > before else "fail")
        results.append(Signature(_text(verifier, "domain"), _text(verifier, "selector"), result))
    return results, errors


def _text(verifier: Any, name: str) -> str:
    value = getattr(verifier, name, None) or b""
    return value.decode("ascii", "replace").lower() if isinstance(value, bytes) else str(value)


def check_spf(trace: Trace | None, sender: str) -> tuple[str, str, str]:
    """(result, domain, scope) for the envelope sender (the HELO name for `<>`)."""
    if trace is None:
        return "none", "", "mailfrom"
    if sender and "@" in sender:
        domain, scope, identity = sender.rpartition("@")[2].lower(), "mailfrom", sender
    else:
        domain, scope, identity = trace.helo.lower(), "helo", f"postmaster@{trace.helo}"
    try:
        result, _explanation = spf.check2(
            i=trace.ip,
            s=identity,
            h=trace.helo,
            querytime=4 * settings.DNS_TIMEOUT,
        )
    except Exception as exc:  # pyspf raises for addresses it cannot parse
        log.info("SPF check for %s from %s failed: %s", domain, trace.ip, exc)
        return "permerror", domain, scope
    return str(result), domain, scope


def _parents(domain: str) -> list[str]:
    labels = domain.split(".")
    # The domain itself, then each parent with at least two labels.
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def dmarc_record(domain: str) -> tuple[dict[str, str], str] | None:
    """The DMARC tags that govern `domain` and the domain they were found at."""
    for candidate in _parents(domain):
        for record in txt(f"_dmarc.{candidate}"):
            text = record.decode("utf-8", "replace").strip()
            if not re.match(r"v\s*=\s*DMARC1\s*(;|$)", text, re.IGNORECASE):
                continue
            tags = {}
            for part in text.split(";"):
                key, _, value = part.partition("=")
                if key.strip():
                    tags[key.strip().lower()] = value.strip().lower()
            return tags, candidate
    return None


def aligned(a: str, b: str, mode: str = "r") -> bool:
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    if not a or not b:
        return False
    if a == b:
        return True
    if mode == "s":
        return False
    shorter, longer = sorted((a, b), key=len)
    return "." in shorter and longer.endswith("." + shorter)


def authenticate(raw: bytes, sender: str) -> Verdict:
    """Check one message as it arrived; never raises (a failure is a temperror)."""
    verdict = Verdict()
    try:
        wire = h.canonical(raw)
        block, _ = h.split(wire)
        verdict.from_domain = _from_domain(block)
        trace = postfix_trace(block)
        verdict.client_ip = trace.ip if trace else ""
        verdict.dkim, errors = check_dkim(wire)
        verdict.errors.extend(errors)
        verdict.spf, verdict.spf_domain, verdict.spf_scope = check_spf(trace, sender)
        _dmarc(verdict)
    except DNSTempError as exc:
        verdict.dmarc = "temperror"
        verdict.errors.append(str(exc))
    except Exception as exc:  # a bug here must hold a post, not lose it
        log.exception("authentication check failed")
        verdict.dmarc = "temperror"
        verdict.errors.append(f"the check failed ({type(exc).__name__})")
    return verdict


def _dmarc(verdict: Verdict) -> None:
    if not verdict.from_domain:
        verdict.dmarc = "none"
        return
    found = dmarc_record(verdict.from_domain)  # DNSTempError: the caller's temperror
    if found is None:
        verdict.dmarc = "none"
        return
    tags, where = found
    policy = tags.get("p", "none")
    if where != verdict.from_domain:
        policy = tags.get("sp", policy)
    verdict.policy = policy if policy in ("none", "quarantine", "reject") else "none"
    dkim_ok = any(
        s.result == "pass" and aligned(s.domain, verdict.from_domain, tags.get("adkim", "r"))
        for s in verdict.dkim
    )
    spf_ok = (
        verdict.spf == "pass"
        and verdict.spf_scope == "mailfrom"
        and aligned(verdict.spf_domain, verdict.from_domain, tags.get("aspf", "r"))
    )
    if dkim_ok or spf_ok:
        verdict.dmarc = "pass"
    elif verdict.spf == "temperror" or any(s.result == "temperror" for s in verdict.dkim):
        verdict.dmarc = "temperror"
    else:
        verdict.dmarc = "fail"
