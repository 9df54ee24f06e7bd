"""Read what a page shows, for assertions on parsed values rather than HTML fragments."""

from __future__ import annotations

from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}

BREAKS = {"td", "th", "li", "p", "div", "br", "dt", "dd", "tr", "option"}


class _Collector(HTMLParser):
    """Text inside every element matching (tag, attribute, value), one string each."""

    def __init__(self, tag: str | None, attr: str, value: str | None) -> None:
        super().__init__()
        self.tag, self.attr, self.value = tag, attr, value
        self.depth = 0  # >0 while inside a match
        self.found: list[list[str]] = []

    def _matches(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        if self.tag is not None and tag != self.tag:
            return False
        if self.value is None:
            return True
        got = dict(attrs).get(self.attr) or ""
        return self.value in got.split() if self.attr == "class" else got == self.value

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth and tag in BREAKS:
            self.found[-1].append(" ")  # cells and blocks read as separate words
        if tag in VOID:
            return
        if self.depth:
            self.depth += 1
        elif self._matches(tag, attrs):
            self.depth = 1
            self.found.append([])

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag not in VOID:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.found[-1].append(data)


def texts(
    page: str | bytes, tag: str | None = None, *, id: str | None = None, cls: str | None = None
) -> list[str]:
    """Whitespace-normalised text of each element with this tag, id or class."""
    if isinstance(page, bytes):
        page = page.decode()
    attr, value = ("id", id) if id is not None else ("class", cls)
    parser = _Collector(tag, attr, value)
    parser.feed(page)
    return [" ".join("".join(parts).split()) for parts in parser.found]


def text(page: str | bytes, *, id: str) -> str:
    found = texts(page, id=id)
    assert len(found) == 1, f"{len(found)} elements with id={id!r}"
    return found[0]
