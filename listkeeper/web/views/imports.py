"""Bulk add: upload or paste, preview every problem row, then add in the background."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from listkeeper.lists import permissions
from listkeeper.lists.models import MailingList
from listkeeper.web import address_import
from listkeeper.web.access import actor, signed_in
from listkeeper.web.models import BulkImport, ImportState, ProblemKind
from listkeeper.web.paging import paginate

MAX_UPLOAD = 50 * 1024 * 1024


class BulkForm(forms.Form):
    lists = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Add to"),
        queryset=MailingList.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": gettext_lazy("Tick at least one list to add the addresses to.")
        },
    )
    text = forms.CharField(
        label=gettext_lazy("Paste addresses"),
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 8, "placeholder": "alice@example.org\nBob Example <bob@example.org>"}
        ),
        help_text=gettext_lazy(
            "As copied from a mail client: addresses or Name <address>, separated by "
            "commas, semicolons or new lines. The preview lists every address with its name."
        ),
    )
    file = forms.FileField(
        label=gettext_lazy("Or upload a CSV file"),
        required=False,
        help_text=gettext_lazy(
            "UTF-8 (with or without BOM). An 'email' column is required, 'name' is optional; "
            "without a header row the column holding the address is used."
        ),
    )

    def __init__(self, *args: Any, lists: QuerySet[MailingList], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["lists"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = lists

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload = data.get("file")
        text = data.get("text", "").strip()
        if upload and text:
            raise forms.ValidationError(_("Paste addresses or upload a file, not both."))
        if upload:
            if upload.size > MAX_UPLOAD:
                raise forms.ValidationError(
                    _("%(file)s is %(size)s MB; split it into files of at most 50 MB.")
                    % {"file": upload.name, "size": upload.size // (1024 * 1024)}
                )
            try:
                data["content"] = address_import.decode(upload.read())
            except address_import.UnreadableInput as exc:
                raise forms.ValidationError(f"{upload.name}: {exc}") from None
            data["source_name"] = upload.name[:255]
        elif text:
            data["content"] = text
            data["source_name"] = "pasted text"
            data["pasted"] = True
        else:
            raise forms.ValidationError(_("Paste some addresses or choose a CSV file."))
        return data


@login_required
@require_http_methods(["GET", "POST"])
def new(request: HttpRequest) -> HttpResponse:
    lists = permissions.managed_lists(request.user).order_by("local_part")
    initial = {"lists": [request.GET["list"]]} if request.GET.get("list", "").isdigit() else {}
    form = BulkForm(request.POST or None, request.FILES or None, lists=lists, initial=initial)
    if request.method == "POST" and form.is_valid():
        job = BulkImport.objects.create(
            created_by=signed_in(request),
            actor=actor(request),
            source_name=form.cleaned_data["source_name"],
            pasted=form.cleaned_data.get("pasted", False),
            text=form.cleaned_data["content"],
        )
        job.lists.set(form.cleaned_data["lists"])
        address_import.resume(job)
        return redirect("bulk", job.id)
    recent = BulkImport.objects.filter(created_by=signed_in(request)).defer("text", "addresses")[:5]
    return render(
        request,
        "web/bulk/new.html",
        {"form": form, "recent": recent, "has_lists": lists.exists()},
    )


def _job(request: HttpRequest, job_id: int) -> BulkImport:
    job = BulkImport.objects.filter(id=job_id).defer("text", "addresses").first()
    if job is None:
        raise Http404("No such import")
    if not permissions.is_site_admin(request.user):
        managed = set(permissions.managed_lists(request.user).values_list("id", flat=True))
        mine = job.created_by_id == request.user.id
        if not mine or not set(job.lists.values_list("id", flat=True)) <= managed:
            raise Http404("No such import")
    return job


ADDRESSES_PER_PAGE = 100


def _address_page(job: BulkImport, params: QueryDict) -> dict[str, Any]:
    """One page of the valid addresses with the name each will get: what commit adds."""
    text = BulkImport.objects.filter(id=job.id).values_list("addresses", flat=True).first() or ""
    lines = text.splitlines()
    pages = max(1, -(-len(lines) // ADDRESSES_PER_PAGE))
    raw = params.get("a", "1")
    number = min(max(int(raw) if raw.isdigit() else 1, 1), pages)
    start = (number - 1) * ADDRESSES_PER_PAGE
    rows = [line.partition("\t") for line in lines[start : start + ADDRESSES_PER_PAGE]]
    return {
        "rows": [(email, name) for email, _, name in rows],
        "number": number,
        "pages": pages,
        "count": len(lines),
        "previous": number - 1 if number > 1 else None,
        "next": number + 1 if number < pages else None,
    }


@login_required
def detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    address_import.resume(job)
    lists = list(job.lists.order_by("id"))
    summary = [
        (ml, job.summary.get(str(ml.id), {}), job.result.get(str(ml.id), {})) for ml in lists
    ]
    kind = request.GET.get("kind", "")
    problems = job.problems.all()
    if kind in ProblemKind.values:
        problems = problems.filter(kind=kind)
    page = paginate(problems, ("line", "id"), request.GET, per_page=100)
    running = job.state in (ImportState.ANALYSING, ImportState.IMPORTING)
    addresses = _address_page(job, request.GET) if job.valid else None
    return render(
        request,
        "web/bulk/detail.html",
        {
            "job": job,
            "summary": summary,
            "to_add": sum(s.get("new", 0) + s.get("back", 0) for _, s, _ in summary),
            "page": page,
            "kind": kind,
            "kinds": ProblemKind.choices,
            "running": running,
            "addresses": addresses,
        },
    )


@login_required
@require_POST
def commit(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    if not address_import.start_commit(job):
        messages.info(request, _("This import is not waiting to be added; nothing changed."))
    return redirect("bulk", job.id)


@login_required
@require_POST
def cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    if BulkImport.objects.filter(id=job.id, state=ImportState.PREVIEW).update(
        state=ImportState.CANCELLED, addresses=""
    ):
        messages.success(request, _("Cancelled: nobody was added."))
    return redirect("bulk_new")
