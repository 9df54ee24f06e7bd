"""The German catalogue is complete and current, and the pages and notices use it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation

import listkeeper
from listkeeper.delivery import notices
from listkeeper.lists import services

PACKAGE = Path(listkeeper.__file__).parent
GERMAN = PACKAGE / "locale" / "de" / "LC_MESSAGES" / "django.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@pytest.fixture(autouse=True)
def _english_afterwards():
    # The test client's requests leave their language active in this thread.
    yield
    translation.activate(settings.LANGUAGE_CODE)


def catalogue(path: Path) -> list[dict[str, object]]:
    """Each entry of a .po file: msgid, its translations and its flags (a small reader)."""
    entries = []
    for block in path.read_text().split("\n\n"):
        entry: dict[str, object] = {"flags": [], "id": "", "plural": "", "str": []}
        current = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] = [f.strip() for f in line[2:].split(",")]
            elif line.startswith("msgid_plural "):
                current, entry["plural"] = "plural", json.loads(line[13:])
            elif line.startswith("msgid "):
                current, entry["id"] = "id", json.loads(line[6:])
            elif line.startswith("msgstr"):
                current = "str"
                entry["str"].append(json.loads(line.split(" ", 1)[1]))  # type: ignore[union-attr]
            elif line.startswith('"') and current == "str":
                entry["str"][-1] += json.loads(line)  # type: ignore[index]
            elif line.startswith('"') and current in ("id", "plural"):
                entry[current] += json.loads(line)  # type: ignore[operator]
        if entry["id"]:
            entries.append(entry)
    return entries


def test_every_german_entry_is_translated_and_none_is_fuzzy():
    entries = catalogue(GERMAN)
    assert len(entries) > 100
    untranslated = [e["id"] for e in entries if not all(e["str"]) or not e["str"]]
    fuzzy = [e["id"] for e in entries if "fuzzy" in e["flags"]]
    assert untranslated == [] and fuzzy == []


def test_translations_keep_every_placeholder():
    wrong = [
        e["id"]
        for e in catalogue(GERMAN)
        for s in e["str"]  # type: ignore[attr-defined]
        if set(PLACEHOLDER.findall(str(e["id"]))) != set(PLACEHOLDER.findall(s))
    ]
    assert wrong == []


@pytest.mark.skipif(
    shutil.which("xgettext") is None, reason="needs gettext (apt-get install gettext)"
)
def test_the_catalogue_holds_every_string_the_code_marks(tmp_path):
    # makemessages over a copy of the package: what the .po would be if regenerated now.
    copy = tmp_path / "listkeeper"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    admin = Path(
        shutil.which("django-admin") or Path(__import__("sys").executable).with_name("django-admin")
    )
    subprocess.run(
        [str(admin), "makemessages", "-l", "de", "--no-obsolete", "--verbosity", "0"],
        cwd=copy,
        check=True,
        capture_output=True,
    )
    wanted = {e["id"] for e in catalogue(copy / "locale/de/LC_MESSAGES/django.po")}
    have = {e["id"] for e in catalogue(GERMAN)}
    assert sorted(wanted - have) == [], "run makemessages -l de and translate the new entries"


def test_public_pages_follow_the_browsers_language(db):
    services.create_list("community", "lists.example.org", actor="test", display_name="Community")
    page = Client().get("/l/community@lists.example.org/", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9")
    body = page.content.decode()
    assert '<html lang="de">' in body
    assert re.findall(r"<h2>([^<]+)</h2>", body) == ["Abonnieren"]
    english = Client().get("/l/community@lists.example.org/", HTTP_ACCEPT_LANGUAGE="en")
    assert re.findall(r"<h2>([^<]+)</h2>", english.content.decode()) == ["Subscribe"]


def test_the_language_switch_changes_the_owners_interface(admin_client):
    response = admin_client.post(reverse("set_language"), {"language": "de", "next": "/"})
    assert response.status_code == 302
    body = admin_client.get(reverse("dashboard")).content.decode()
    nav = re.search(r'<nav id="site-nav"[^>]*>(.*?)</nav>', body, re.S).group(1)
    assert re.findall(r">([^<]+)</a>", nav)[:2] == ["Übersicht", "Listen"]


def test_a_member_gets_notices_in_their_language(db, mailoutbox):
    translation.activate("en")  # as outside any request: the site's language
    ml = services.create_list(
        "community", "lists.example.org", actor="test", display_name="Community"
    )
    sub = services.subscribe(ml, "anna@example.org", actor="test").subscription
    services.set_language(sub.member, "de", actor="test")
    notices.send_template(
        "welcome",
        ["anna@example.org"],
        {"address": "anna@example.org", "list_url": "u", "manage_url": "m", "unsubscribe_url": "x"},
        mailing_list=ml,
    )
    services.subscribe(ml, "bob@example.org", actor="test")
    notices.send_template(
        "welcome",
        ["bob@example.org"],
        {"address": "bob@example.org", "list_url": "u", "manage_url": "m", "unsubscribe_url": "x"},
        mailing_list=ml,
    )
    subjects = [str(make_header(decode_header(m.subject))) for m in mailoutbox]
    assert subjects == ["Willkommen bei Community", "Welcome to Community"]
    assert "ist jetzt bei community@lists.example.org angemeldet" in mailoutbox[0].body


def test_subscribing_on_a_german_page_makes_german_the_members_language(db, mailoutbox):
    ml = services.create_list(
        "community", "lists.example.org", actor="test", display_name="Community"
    )
    Client().post(
        "/l/community@lists.example.org/",
        {"address": "anna@example.org"},
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert services.find_member("anna@example.org").language == "de"
    (mail,) = mailoutbox
    subject = str(make_header(decode_header(mail.subject)))
    assert subject == "Bestätigen Sie Ihre Anmeldung bei Community"
    assert ml.address in mail.body


@pytest.mark.skipif(
    shutil.which("msgfmt") is None, reason="needs gettext (apt-get install gettext)"
)
def test_msgfmt_accepts_the_german_catalogue():
    # Checks each python-format entry's placeholders and the plural forms.
    done = subprocess.run(
        ["msgfmt", "--check", "--output-file", "/dev/null", str(GERMAN)],
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stderr) == (0, "")


# Words a template may show untranslated: names, and the commands -request@ reads.
UNTRANSLATED = {"Listkeeper", "Postfix", "UTC", "app"} | {
    "subscribe",
    "unsubscribe",
    "digest",
    "on",
    "plain",
    "off",
    "help",
}
TEMPLATE_CODE = re.compile(r"{%.*?%}|{{.*?}}|{#.*?#}", re.S)
READ_ATTRIBUTE = re.compile(r'\b(?:aria-label|title|placeholder|alt)="([^"]*)"')


def unmarked_words(template: str) -> list[str]:
    """Words a template shows that no translate/blocktranslate tag carries."""
    text = re.sub(r"{%\s*blocktranslate.*?{%\s*endblocktranslate\s*%}", " ", template, flags=re.S)
    text = TEMPLATE_CODE.sub(" ", text)
    said = " ".join(READ_ATTRIBUTE.findall(text))
    text = re.sub(r"<(style|script)\b.*?</\1>", " ", text, flags=re.S)
    text = re.sub(r"<[^>]*>|&\w+;", " ", text)
    words = re.findall(r"[A-Za-z][A-Za-z'-]+", f"{text} {said}")
    return [w for w in words if w not in UNTRANSLATED]


def test_every_page_and_mail_template_marks_its_words_for_translation():
    unmarked = {}
    for path in sorted(PACKAGE.glob("*/templates/**/*")):
        if path.is_file() and "postfix" not in path.parts:  # Postfix's own config files
            words = unmarked_words(path.read_text())
            if words:
                unmarked[str(path.relative_to(PACKAGE))] = words
    assert unmarked == {}


def test_the_check_for_unmarked_words_finds_them():
    assert unmarked_words('<p>{% translate "Hello" %} there</p>') == ["there"]
    assert unmarked_words('<a aria-label="Open it">{{ x }}</a>') == ["Open", "it"]
    assert unmarked_words("{% blocktranslate %}Hi {{ x }}{% endblocktranslate %} UTC") == []


def test_the_post_footer_stays_ascii_in_german():
    # mail/handlers/footer.py appends these bytes to a 7bit part as they are.
    footer = {"%(name)s mailing list <%(address)s>", "Unsubscribe: %(url)s"}
    german = {e["id"]: e["str"][0] for e in catalogue(GERMAN) if e["id"] in footer}
    assert set(german) == footer
    assert all(str(text).isascii() for text in german.values())
