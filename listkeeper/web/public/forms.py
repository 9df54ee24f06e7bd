from __future__ import annotations

from django import forms

from listkeeper.lib.addresses import Address, InvalidAddress, parse
from listkeeper.lists.models import DeliveryMode


class AddressForm(forms.Form):
    address = forms.CharField(
        label="Your email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    def clean_address(self) -> Address:
        raw = self.cleaned_data["address"]
        try:
            return parse(raw)
        except InvalidAddress as exc:
            raise forms.ValidationError(f"{exc}. Please check the address and try again.") from None


class SubscribeForm(AddressForm):
    name = forms.CharField(
        label="Your name (optional)",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )


class ManageActionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("leave", "leave"), ("delivery", "delivery"), ("join", "join")]
    )
    list = forms.IntegerField(min_value=1)
    delivery = forms.ChoiceField(choices=DeliveryMode.choices, required=False)
