"""Page-number pagination that stays fast on the last page of a 100,000-row list.

OFFSET costs as many rows as it skips. A page in the second half is read in the
reverse order with the smaller offset from the end, so the first and the last
page are equally cheap and the middle page is the worst case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db.models import QuerySet
from django.http import QueryDict

T = TypeVar("T")


def _flip(term: str) -> str:
    return term[1:] if term.startswith("-") else f"-{term}"


@dataclass
class Page(Generic[T]):
    items: list[T]
    number: int
    count: int
    per_page: int
    params: QueryDict
    # True when only the first `count` of more matches are shown.
    capped: bool = False

    @property
    def pages(self) -> int:
        return max(1, -(-self.count // self.per_page))

    @property
    def start(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.count else 0

    @property
    def end(self) -> int:
        return min(self.number * self.per_page, self.count)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    def url(self, number: int) -> str:
        params = self.params.copy()
        params["page"] = str(number)
        return "?" + params.urlencode()

    @property
    def first_url(self) -> str:
        return self.url(1)

    @property
    def previous_url(self) -> str:
        return self.url(self.number - 1)

    @property
    def next_url(self) -> str:
        return self.url(self.number + 1)

    @property
    def last_url(self) -> str:
        return self.url(self.pages)

    @property
    def hidden_params(self) -> list[tuple[str, str]]:
        """The other query parameters, for a 'go to page' form."""
        return [(k, v) for k, values in self.params.lists() if k != "page" for v in values]


def _number(params: QueryDict, pages: int) -> int:
    try:
        number = int(params.get("page", "1"))
    except ValueError:
        number = 1
    return min(max(number, 1), pages)


def _rows(qs: QuerySet[Any], ids: list[Any], related: tuple[str, ...]) -> list[Any]:
    rows = qs.model._default_manager.filter(pk__in=ids)
    if related:
        rows = rows.select_related(*related)
    by_id = {row.pk: row for row in rows}
    return [by_id[i] for i in ids if i in by_id]


def paginate(
    qs: QuerySet[Any],
    order: tuple[str, ...],
    params: QueryDict,
    *,
    per_page: int = 50,
    count: int | None = None,
    related: tuple[str, ...] = (),
) -> Page[Any]:
    """`order` must end in a unique column so that reversing it is exact.

    The page's ids come first from the ordering index alone; only those rows
    are then read in full (with `related` joined), so skipping 50,000 rows
    touches no table but the index.
    """
    if count is None:
        count = qs.count()
    pages = max(1, -(-count // per_page))
    number = _number(params, pages)
    offset = (number - 1) * per_page
    limit = max(0, min(per_page, count - offset))
    if offset > count // 2 and limit:
        from_end = count - offset - limit
        ids = list(
            qs.order_by(*[_flip(t) for t in order]).values_list("pk", flat=True)[
                from_end : from_end + limit
            ]
        )
        ids.reverse()
    else:
        ids = list(qs.order_by(*order).values_list("pk", flat=True)[offset : offset + per_page])
    return Page(_rows(qs, ids, related), number, count, per_page, params)


def paginate_ids(
    qs: QuerySet[Any],
    ids: list[Any],
    params: QueryDict,
    *,
    per_page: int = 50,
    capped: bool = False,
    related: tuple[str, ...] = (),
) -> Page[Any]:
    """A page of rows whose ids are all known and in order already."""
    pages = max(1, -(-len(ids) // per_page))
    number = _number(params, pages)
    chosen = ids[(number - 1) * per_page : number * per_page]
    return Page(_rows(qs, chosen, related), number, len(ids), per_page, params, capped)


def paginate_matches(
    qs: QuerySet[Any],
    order: tuple[str, ...],
    params: QueryDict,
    *,
    per_page: int = 50,
    cap: int = 5000,
    related: tuple[str, ...] = (),
) -> Page[Any]:
    """For searches: one pass collects the ids of up to `cap` matches.

    A search reads every row it tests; counting and then paging would read
    them all twice.
    """
    found = list(qs.order_by(*order).values_list("pk", flat=True)[: cap + 1])
    capped = len(found) > cap
    return paginate_ids(qs, found[:cap], params, per_page=per_page, capped=capped, related=related)
