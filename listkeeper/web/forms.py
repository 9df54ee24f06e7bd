"""Forms of the owners' interface. They validate input; services make the changes."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.conf import settings

from listkeeper.lib.addresses import Address, InvalidAddress, parse
from listkeeper.lists.models import DeliveryMode, MailingList, Role, Status


class AddressField(forms.CharField):
    """An address, `<addr>` or `Name <addr>`; cleans to an Address."""

    # Cleans to an Address where CharField promises a str: an override mypy refuses.
    def to_python(self, value: Any) -> Address | None:  # type: ignore[override]
        text = super().to_python(value)
        if not text:
            return None
        try:
            return parse(text)
        except InvalidAddress as exc:
            raise forms.ValidationError(f"{exc}. Enter an address like name@example.org.") from None


LIST_SETTINGS = [
    "display_name",
    "description",
    "posting_policy",
    "nonmember_action",
    "unauthenticated_action",
    "subject_tag",
    "reply_to",
    "personalised",
    "footer",
    "public",
    "send_welcome",
    "send_goodbye",
    "max_message_size",
    "held_expiry_days",
    "bounce_score_threshold",
    "digests_enabled",
    "digest_frequency",
    "digest_weekday",
    "digest_hour",
    "time_zone",
    "digest_size_kb",
    "digest_header",
    "digest_footer",
    "archive_visibility",
]


class ListCreateForm(forms.Form):
    local_part = forms.CharField(
        label="List name",
        max_length=64,
        help_text=f"The part before @{settings.LISTKEEPER_DOMAIN}, e.g. community.",
    )
    display_name = forms.CharField(label="Display name", max_length=200, required=False)
    description = forms.CharField(widget=forms.Textarea, required=False)
    owner = AddressField(
        label="Owner's email",
        required=False,
        help_text="Optional: this address becomes the list's owner and may manage it after signing in.",
    )

    def clean_local_part(self) -> str:
        value = self.cleaned_data["local_part"].strip().lower()
        local, at, domain = value.partition("@")
        if at and domain != settings.LISTKEEPER_DOMAIN:
            raise forms.ValidationError(
                f"Lists live at @{settings.LISTKEEPER_DOMAIN}, not @{domain}; "
                f"enter just the name, e.g. {local}."
            )
        return local


class ListSettingsForm(forms.ModelForm):
    posters = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Announce-only lists: addresses that may post, one a line.",
    )
    allowed = forms.CharField(
        label="Allowed non-members",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Addresses that may always post without being members, one a line.",
    )

    class Meta:
        model = MailingList
        fields = LIST_SETTINGS
        labels = {
            "personalised": "Personalised copies (one-click unsubscribe link per member)",
            "footer": "Add a footer with the unsubscribe link",
            "public": "Listed on the public list page; anyone may ask to join",
            "send_welcome": "Send a welcome message to new members",
            "send_goodbye": "Send a goodbye message to members who leave",
            "max_message_size": "Largest post (bytes)",
            "held_expiry_days": "Reject held posts after (days)",
            "bounce_score_threshold": "Stop delivery after a bounce score of",
            "nonmember_action": "Posts from non-members",
            "digests_enabled": "Members may choose a digest",
            "digest_frequency": "Digest",
            "digest_weekday": "Weekly digest on",
            "digest_hour": "Digest hour (0-23, list time)",
            "time_zone": "List time zone",
            "digest_size_kb": "Send the digest early past (KB)",
            "digest_header": "Digest header text",
            "digest_footer": "Digest footer text",
            "archive_visibility": "Web archive: who may read it",
            "unauthenticated_action": "Members' posts that fail their domain's DMARC policy",
        }
        help_texts = {
            "unauthenticated_action": (
                "For a post whose From is a member but whose domain publishes DMARC "
                "p=quarantine or p=reject and the post fails it (likely forged)."
            ),
        }
        help_texts = {
            "display_name": "What members see, e.g. in “Alice via Community”.",
            "description": "Shown on the list's public page.",
            "subject_tag": "Put before every subject, e.g. [Community]; empty for none.",
            "reply_to": "Where a member's reply goes.",
            "max_message_size": "Bigger posts are refused; the sender is told the limit.",
            "held_expiry_days": "A post no moderator approved in time is rejected and its sender "
            "is told so. 0 keeps held posts until a moderator decides.",
            "bounce_score_threshold": "Each day a member's address fails adds 1; a permanent "
            "failure stops delivery at once. Delivery also stops at this score.",
        }

    # The settings page shows the form in these sections, in this order.
    sections = [
        ("About the list", "How the list presents itself.", ["display_name", "description"]),
        (
            "Who may post",
            "Posts from anyone else are held for a moderator or refused.",
            ["posting_policy", "nonmember_action", "posters", "allowed"],
        ),
        (
            "What members receive",
            "How each post looks when it reaches the members.",
            ["subject_tag", "reply_to", "personalised", "footer", "max_message_size"],
        ),
        (
            "Joining and leaving",
            "Who can find the list, and the mail Listkeeper sends when people join or leave.",
            ["public", "send_welcome", "send_goodbye"],
        ),
        (
            "Moderation and bounces",
            "What happens to posts nobody decides on, and to addresses that stop working.",
            ["held_expiry_days", "bounce_score_threshold"],
        ),
    ]

    def section_fields(self) -> list[tuple[str, str, list[forms.BoundField]]]:
        return [
            (title, help, [self[name] for name in names]) for title, help, names in self.sections
        ]

    def _addresses(self, name: str) -> list[str]:
        out, bad = [], []
        for line in self.cleaned_data.get(name, "").splitlines():
            if not line.strip():
                continue
            try:
                out.append(parse(line).email)
            except InvalidAddress as exc:
                bad.append(str(exc))
        if bad:
            raise forms.ValidationError([f"{b}. Fix or remove that line." for b in bad])
        return out

    def clean_time_zone(self) -> str:
        zone = str(self.cleaned_data.get("time_zone", "")).strip()
        if zone not in available_timezones():
            raise forms.ValidationError(
                f"{zone!r} is not a time zone; use an IANA name such as Europe/Berlin or UTC."
            )
        return zone

    def clean_digest_hour(self) -> int:
        hour = int(self.cleaned_data["digest_hour"])
        if not 0 <= hour <= 23:
            raise forms.ValidationError("Choose an hour from 0 to 23.")
        return hour

    def clean_posters(self) -> list[str]:
        return self._addresses("posters")

    def clean_allowed(self) -> list[str]:
        return self._addresses("allowed")


class AddMemberForm(forms.Form):
    address = AddressField(
        label="Email",
        help_text="An address, or Name <address>.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    name = forms.CharField(max_length=200, required=False)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


ACTIONS = [
    ("", "Choose an action…"),
    ("role:member", "Role: member"),
    ("role:moderator", "Role: moderator"),
    ("role:owner", "Role: owner"),
    ("delivery:regular", "Delivery: regular"),
    ("delivery:digest", "Delivery: digest"),
    ("delivery:digest-plain", "Delivery: plain-text digest"),
    ("delivery:nomail", "Delivery: no mail"),
    ("activate", "Make active again"),
    ("unsubscribe", "Unsubscribe (keep the record)"),
    ("remove", "Remove from the list"),
]
# What the confirmation page warns about: these end a member's mail.
DESTRUCTIVE_ACTIONS = {"remove", "unsubscribe"}


class AnyIdsField(forms.TypedMultipleChoiceField):
    """Subscription ids: any id is acceptable here; the view limits them to the list's."""

    def valid_value(self, value: Any) -> bool:
        return str(value).isdigit()


class MemberActionForm(forms.Form):
    """A bulk action on ticked members, or on every member the filter matches.

    No action is preselected: a click on Apply without a choice does nothing.
    """

    action = forms.ChoiceField(
        label="With the selected members",
        choices=ACTIONS,
        error_messages={"required": "Choose what to do with the selected members."},
    )
    scope = forms.ChoiceField(
        choices=[("selected", "Ticked members"), ("matching", "All matching")],
        required=False,
    )
    selected = AnyIdsField(coerce=int, choices=[], required=False)
    # The filter "all matching" applies to (the members page's own query).
    q = forms.CharField(required=False, max_length=254)
    status = forms.ChoiceField(choices=[("", ""), *Status.choices], required=False)
    role = forms.ChoiceField(choices=[("", ""), *Role.choices], required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("scope") != "matching" and not data.get("selected"):
            raise forms.ValidationError("Tick at least one member first.")
        return data


class SubscriptionForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
    delivery = forms.ChoiceField(choices=DeliveryMode.choices)
    status = forms.ChoiceField(choices=Status.choices)


class MemberNameForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)


class ChangeAddressForm(forms.Form):
    address = AddressField(label="New address")


class MemberFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=254)
    status = forms.ChoiceField(choices=[("", "Any status"), *Status.choices], required=False)
    role = forms.ChoiceField(choices=[("", "Any role"), *Role.choices], required=False)
    sort = forms.ChoiceField(
        choices=[
            ("email", "Email"),
            ("-email", "Email, Z–A"),
            ("-joined", "Newest first"),
            ("joined", "Oldest first"),
        ],
        required=False,
    )
