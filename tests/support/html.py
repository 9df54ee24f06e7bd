"""Reading a page the way a person does: headings, table rows, an element's text.

Tests assert on these parsed values rather than on fragments of markup, so a
change of attribute order or white space does not break them, and a value in
the wrong cell does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

# Elements that never have content or an end tag.
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}

# Elements whose content reads as separate words from what surrounds it.
BREAKS = {"td", "th", "li", "p", "div", "br", "dt", "dd", "tr", "option"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Element | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The text inside, white space folded."""
        parts: list[str] = []

        def walk(node: Element | str) -> None:
            if isinstance(node, str):
                parts.append(node)
                return
            if node.tag in BREAKS:
                parts.append(" ")  # cells and blocks read as separate words
            for child in node.children:
                walk(child)

        walk(self)
        return " ".join("".join(parts).split())

    def iter(self, tag: str | None = None) -> list[Element]:
        """Every element below this one (document order), or only those named `tag`."""
        found: list[Element] = []
        for child in self.children:
            if isinstance(child, Element):
                if tag is None or child.tag == tag:
                    found.append(child)
                found.extend(child.iter(tag))
        return found

    def by_id(self, element_id: str) -> Element:
        matches = [e for e in self.iter() if e.attrs.get("id") == element_id]
        if len(matches) != 1:
            raise AssertionError(f"{len(matches)} elements with id {element_id!r}")
        return matches[0]

    def with_class(self, name: str, tag: str | None = None) -> list[Element]:
        return [e for e in self.iter(tag) if name in e.attrs.get("class", "").split()]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("document")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        # Close up to the matching element; browsers forgive a missing end tag.
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str | bytes) -> Element:
    builder = _TreeBuilder()
    builder.feed(html.decode() if isinstance(html, bytes) else html)
    builder.close()
    return builder.root


def headings(html: str | bytes) -> list[str]:
    """The texts of h1 and h2, in order."""
    return [e.text for e in parse(html).iter() if e.tag in ("h1", "h2")]


def table_rows(html: str | bytes, table_class: str | None = None) -> list[list[str]]:
    """The body rows of every table (or of those with `table_class`), as cell texts."""
    doc = parse(html)
    tables = doc.with_class(table_class, "table") if table_class else doc.iter("table")
    rows: list[list[str]] = []
    for table in tables:
        for row in table.iter("tr"):
            cells = [c for c in row.children if isinstance(c, Element) and c.tag in ("td", "th")]
            if cells and not all(c.tag == "th" for c in cells):
                rows.append([c.text for c in cells])
    return rows


def texts(
    page: str | bytes, tag: str | None = None, *, id: str | None = None, cls: str | None = None
) -> list[str]:
    """The text of each element with this tag and this id or class, in document order."""
    found = parse(page).iter(tag)
    if id is not None:
        found = [e for e in found if e.attrs.get("id") == id]
    elif cls is not None:
        found = [e for e in found if cls in e.attrs.get("class", "").split()]
    return [e.text for e in found]


def text(page: str | bytes, *, id: str) -> str:
    """The text of the one element with this id."""
    return parse(page).by_id(id).text


def attrs(page: str | bytes, tag: str, **match: str) -> list[dict[str, str]]:
    """The attributes of each `tag` element whose attributes include `match`."""
    return [
        e.attrs for e in parse(page).iter(tag) if all(e.attrs.get(k) == v for k, v in match.items())
    ]
