"""Forms of the owners' interface. They validate input; services make the changes."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

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
            raise forms.ValidationError(
                _("%(problem)s. Enter an address like name@example.org.") % {"problem": exc}
            ) from None


# The settings page shows the list's settings in these sections, in this order.
# What is saved is derived from them, so a field cannot be saved without being
# shown (or shown without being saved).
SETTINGS_SECTIONS: list[tuple[Any, Any, list[str]]] = [
    (
        gettext_lazy("About the list"),
        gettext_lazy("How the list presents itself."),
        ["display_name", "description"],
    ),
    (
        gettext_lazy("Who may post"),
        gettext_lazy("Posts from anyone else are held for a moderator or refused."),
        ["posting_policy", "nonmember_action", "unauthenticated_action", "posters", "allowed"],
    ),
    (
        gettext_lazy("What members receive"),
        gettext_lazy("How each post looks when it reaches the members."),
        ["subject_tag", "reply_to", "personalised", "footer", "max_message_size"],
    ),
    (
        gettext_lazy("Joining and leaving"),
        gettext_lazy(
            "Who can find the list, and the mail Listkeeper sends when people join or leave."
        ),
        ["public", "send_welcome", "send_goodbye"],
    ),
    (
        gettext_lazy("Moderation and bounces"),
        gettext_lazy(
            "What happens to posts nobody decides on, and to addresses that stop working."
        ),
        ["held_expiry_days", "bounce_score_threshold"],
    ),
    (
        gettext_lazy("Digests"),
        gettext_lazy(
            "Members may get one message with the posts instead of each post: when it "
            "goes out, and the text around it."
        ),
        [
            "digests_enabled",
            "digest_frequency",
            "digest_weekday",
            "digest_hour",
            "time_zone",
            "digest_size_kb",
            "digest_header",
            "digest_footer",
        ],
    ),
    (
        gettext_lazy("Web archive"),
        gettext_lazy("Who may read the list's posts on the web."),
        ["archive_visibility"],
    ),
]

# Fields of the settings form that are not columns of MailingList.
NOT_LIST_COLUMNS = {"posters", "allowed"}
LIST_SETTINGS = [
    name for _, _, names in SETTINGS_SECTIONS for name in names if name not in NOT_LIST_COLUMNS
]


class ListCreateForm(forms.Form):
    local_part = forms.CharField(
        label=gettext_lazy("List name"),
        max_length=64,
        help_text=format_lazy(
            gettext_lazy("The part before @{domain}, e.g. community."),
            domain=settings.LISTKEEPER_DOMAIN,
        ),
    )
    display_name = forms.CharField(
        label=gettext_lazy("Display name"), max_length=200, required=False
    )
    description = forms.CharField(
        label=gettext_lazy("Description"), widget=forms.Textarea, required=False
    )
    owner = AddressField(
        label=gettext_lazy("Owner's email"),
        required=False,
        help_text=gettext_lazy(
            "Optional: this address becomes the list's owner and may manage it after signing in."
        ),
    )

    def clean_local_part(self) -> str:
        value = self.cleaned_data["local_part"].strip().lower()
        local, at, domain = value.partition("@")
        if at and domain != settings.LISTKEEPER_DOMAIN:
            raise forms.ValidationError(
                _("Lists live at @%(ours)s, not @%(domain)s; enter just the name, e.g. %(name)s.")
                % {"ours": settings.LISTKEEPER_DOMAIN, "domain": domain, "name": local}
            )
        return local


class ListSettingsForm(forms.ModelForm):
    posters = forms.CharField(
        label=gettext_lazy("Posters"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=gettext_lazy("Announce-only lists: addresses that may post, one a line."),
    )
    allowed = forms.CharField(
        label=gettext_lazy("Allowed non-members"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=gettext_lazy("Addresses that may always post without being members, one a line."),
    )

    class Meta:
        model = MailingList
        fields = LIST_SETTINGS
        labels = {
            "display_name": gettext_lazy("Display name"),
            "description": gettext_lazy("Description"),
            "posting_policy": gettext_lazy("Posting policy"),
            "subject_tag": gettext_lazy("Subject tag"),
            "reply_to": gettext_lazy("Reply to"),
            "personalised": gettext_lazy(
                "Personalised copies (one-click unsubscribe link per member)"
            ),
            "footer": gettext_lazy("Add a footer with the unsubscribe link"),
            "public": gettext_lazy("Listed on the public list page; anyone may ask to join"),
            "send_welcome": gettext_lazy("Send a welcome message to new members"),
            "send_goodbye": gettext_lazy("Send a goodbye message to members who leave"),
            "max_message_size": gettext_lazy("Largest post (bytes)"),
            "held_expiry_days": gettext_lazy("Reject held posts after (days)"),
            "bounce_score_threshold": gettext_lazy("Stop delivery after a bounce score of"),
            "nonmember_action": gettext_lazy("Posts from non-members"),
            "digests_enabled": gettext_lazy("Members may choose a digest"),
            "digest_frequency": gettext_lazy("Digest"),
            "digest_weekday": gettext_lazy("Weekly digest on"),
            "digest_hour": gettext_lazy("Digest hour (0-23, list time)"),
            "time_zone": gettext_lazy("List time zone"),
            "digest_size_kb": gettext_lazy("Send the digest early past (KB)"),
            "digest_header": gettext_lazy("Digest header text"),
            "digest_footer": gettext_lazy("Digest footer text"),
            "archive_visibility": gettext_lazy("Web archive: who may read it"),
            "unauthenticated_action": gettext_lazy(
                "Members' posts that fail their domain's DMARC policy"
            ),
        }
        widgets = {
            "digest_header": forms.Textarea(attrs={"rows": 3}),
            "digest_footer": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "unauthenticated_action": gettext_lazy(
                "For a post whose From is a member but whose domain publishes DMARC "
                "p=quarantine or p=reject and the post fails it (likely forged)."
            ),
            "display_name": gettext_lazy("What members see, e.g. in “Alice via Community”."),
            "description": gettext_lazy("Shown on the list's public page."),
            "subject_tag": gettext_lazy(
                "Put before every subject, e.g. [Community]; empty for none."
            ),
            "reply_to": gettext_lazy("Where a member's reply goes."),
            "max_message_size": gettext_lazy(
                "Bigger posts are refused; the sender is told the limit."
            ),
            "held_expiry_days": gettext_lazy(
                "A post no moderator approved in time is rejected and its sender "
                "is told so. 0 keeps held posts until a moderator decides."
            ),
            "bounce_score_threshold": gettext_lazy(
                "Each day a member's address fails adds 1; a permanent "
                "failure stops delivery at once. Delivery also stops at this score."
            ),
        }

    sections = SETTINGS_SECTIONS

    def section_fields(self) -> list[tuple[str, str, list[forms.BoundField]]]:
        return [
            (str(title), str(help), [self[name] for name in names])
            for title, help, names in self.sections
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
            raise forms.ValidationError(
                [_("%(problem)s. Fix or remove that line.") % {"problem": b} for b in bad]
            )
        return out

    def clean_time_zone(self) -> str:
        zone = str(self.cleaned_data.get("time_zone", "")).strip()
        if zone not in available_timezones():
            raise forms.ValidationError(
                _("%(zone)s is not a time zone; use an IANA name such as Europe/Berlin or UTC.")
                % {"zone": repr(zone)}
            )
        return zone

    def clean_digest_hour(self) -> int:
        hour = int(self.cleaned_data["digest_hour"])
        if not 0 <= hour <= 23:
            raise forms.ValidationError(_("Choose an hour from 0 to 23."))
        return hour

    def clean_posters(self) -> list[str]:
        return self._addresses("posters")

    def clean_allowed(self) -> list[str]:
        return self._addresses("allowed")


class AddMemberForm(forms.Form):
    address = AddressField(
        label=gettext_lazy("Email"),
        help_text=gettext_lazy("An address, or Name <address>."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200, required=False)
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices, initial=Role.MEMBER)


ACTIONS = [
    ("", gettext_lazy("Choose an action…")),
    ("role:member", gettext_lazy("Role: member")),
    ("role:moderator", gettext_lazy("Role: moderator")),
    ("role:owner", gettext_lazy("Role: owner")),
    ("delivery:regular", gettext_lazy("Delivery: regular")),
    ("delivery:digest", gettext_lazy("Delivery: digest")),
    ("delivery:digest-plain", gettext_lazy("Delivery: plain-text digest")),
    ("delivery:nomail", gettext_lazy("Delivery: no mail")),
    ("activate", gettext_lazy("Make active again")),
    ("unsubscribe", gettext_lazy("Unsubscribe (keep the record)")),
    ("remove", gettext_lazy("Remove from the list")),
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
        label=gettext_lazy("With the selected members"),
        choices=ACTIONS,
        error_messages={"required": gettext_lazy("Choose what to do with the selected members.")},
    )
    scope = forms.ChoiceField(
        choices=[
            ("selected", gettext_lazy("Ticked members")),
            ("matching", gettext_lazy("All matching")),
        ],
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
            raise forms.ValidationError(_("Tick at least one member first."))
        return data


class SubscriptionForm(forms.Form):
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices)
    delivery = forms.ChoiceField(label=gettext_lazy("Delivery"), choices=DeliveryMode.choices)
    status = forms.ChoiceField(label=gettext_lazy("Status"), choices=Status.choices)


class MemberNameForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200, required=False)


class ChangeAddressForm(forms.Form):
    address = AddressField(label=gettext_lazy("New address"))


class MemberFilterForm(forms.Form):
    q = forms.CharField(label=gettext_lazy("Search"), required=False, max_length=254)
    status = forms.ChoiceField(
        choices=[("", gettext_lazy("Any status")), *Status.choices], required=False
    )
    role = forms.ChoiceField(
        choices=[("", gettext_lazy("Any role")), *Role.choices], required=False
    )
    sort = forms.ChoiceField(
        choices=[
            ("email", gettext_lazy("Email")),
            ("-email", gettext_lazy("Email, Z–A")),
            ("-joined", gettext_lazy("Newest first")),
            ("joined", gettext_lazy("Oldest first")),
        ],
        required=False,
    )
