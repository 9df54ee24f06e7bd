from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from listkeeper.lib.addresses import Address, InvalidAddress, parse
from listkeeper.lists.models import DeliveryMode


class AddressForm(forms.Form):
    address = forms.CharField(
        label=_("Your email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    def clean_address(self) -> Address:
        raw = self.cleaned_data["address"]
        try:
            return parse(raw)
        except InvalidAddress as exc:
            raise forms.ValidationError(
                _("%(problem)s. Please check the address and try again.") % {"problem": exc}
            ) from None


class SubscribeForm(AddressForm):
    name = forms.CharField(
        label=_("Your name (optional)"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )


class ManageActionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("leave", "leave"), ("delivery", "delivery"), ("join", "join"), ("language", "")]
    )
    list = forms.IntegerField(min_value=1, required=False)
    delivery = forms.ChoiceField(choices=DeliveryMode.choices, required=False)
    language = forms.ChoiceField(choices=[("", ""), *settings.LANGUAGES], required=False)

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("action") != "language" and not data.get("list"):
            raise forms.ValidationError("no list")
        return data
