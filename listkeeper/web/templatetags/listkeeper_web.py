from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

register = template.Library()


def _value(item: Any) -> str:
    if item is None or item == "":
        return _("(empty)")
    if isinstance(item, bool):
        return _("yes") if item else _("no")
    if isinstance(item, list):
        return ", ".join(_value(i) for i in item) or _("none")
    if isinstance(item, dict):
        return "; ".join(f"{_label(k)}: {_value(v)}" for k, v in item.items())
    return str(item)


def _label(key: str) -> str:
    return str(key).replace("_", " ")


def _change(item: Any) -> str:
    """An [old, new] pair as `old → new`; anything else as a value."""
    if isinstance(item, list) and len(item) == 2:
        return f"{_value(item[0])} → {_value(item[1])}"
    return _value(item)


@register.filter
def details(value: Any) -> list[str]:
    """An audit entry's details as readable lines (`subject tag: (empty) → [News]`).

    A nested `changes` dict, as list.update writes it, becomes one line per
    setting. The template autoescapes each line.
    """
    if value is None or value == "":
        return []
    if not isinstance(value, dict):
        return [str(value)]
    lines = []
    for key, item in value.items():
        if key == "changes" and isinstance(item, dict):
            lines += [f"{_label(k)}: {_change(v)}" for k, v in item.items()]
        elif key in ("added", "removed") or not isinstance(item, list):
            lines.append(f"{_label(key)}: {_value(item)}")
        else:
            lines.append(f"{_label(key)}: {_change(item)}")
    return lines


# "Approved by mod@…": the status a moderator's decision left, as a sentence.
DECIDED = {
    "accepted": gettext_lazy("Approved by %(who)s"),
    "rejected": gettext_lazy("Rejected by %(who)s"),
    "discarded": gettext_lazy("Discarded by %(who)s"),
}


@register.filter
def outcome(post: Any) -> str:
    """What happened to a post, in words: `Approved by mod@… (held because …)`.

    A post a moderator decided on still carries the reason it was held; shown
    after "Accepted:" that reason reads as if it were why the post went out.
    """
    if post.decided_by and post.status in DECIDED:
        text = str(DECIDED[post.status]) % {"who": post.decided_by}
        if post.reason:
            held = _("held because") if post.status == "accepted" else _("reason:")
            text += f" ({held} {post.reason})"
        return text
    status = str(post.get_status_display())
    return f"{status}: {post.reason}" if post.reason else status


LIST_TABS = [
    ("members", gettext_lazy("Members"), "list_members"),
    ("settings", gettext_lazy("Settings"), "list_edit"),
    ("digests", gettext_lazy("Digests"), "list_digests"),
    ("held", gettext_lazy("Held posts"), "held_posts"),
    ("deliverability", gettext_lazy("Deliverability"), "list_deliverability"),
    ("bans", gettext_lazy("Bans"), "list_bans"),
    ("audit", gettext_lazy("Audit log"), None),
    ("bulk", gettext_lazy("Bulk add"), None),
    ("export", gettext_lazy("Export CSV"), "list_export"),
]


@register.inclusion_tag("web/lists/_tabs.html", takes_context=True)
def list_tabs(context: template.Context, ml: Any, current: str = "") -> dict[str, Any]:
    """A list's heading and its pages as tabs; a moderator sees only the held posts."""
    from django.urls import reverse

    from listkeeper.web.access import managed_list_ids

    request = context.get("request")
    manage = request is not None and ml.id in managed_list_ids(request)
    tabs = []
    for key, label, name in LIST_TABS:
        if not manage and key != "held":
            continue
        if key == "audit":
            url = f"{reverse('audit')}?list={ml.id}"
        elif key == "bulk":
            url = f"{reverse('bulk_new')}?list={ml.id}"
        else:
            url = reverse(name, args=[ml.id])
        tabs.append({"key": key, "label": label, "url": url, "current": key == current})
    return {"ml": ml, "tabs": tabs}
