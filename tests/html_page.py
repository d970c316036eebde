"""A page convprof wrote, parsed into a small tree with Python's own HTML parser, to query in tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

__all__ = ["Element", "parse"]

#: HTML elements that have no end tag.
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


@dataclass
class Element:
    """An element: its tag, its attributes (as the browser reads them: entities decoded), children."""

    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)
    parent: Element | None = None

    def text(self) -> str:
        """Return the element's text, entities decoded."""
        return "".join(child if isinstance(child, str) else child.text() for child in self.children)

    def walk(self) -> Iterator[Element]:
        """Yield this element and every element inside it, in document order."""
        stack = [self]  # not recursive generators: a page holds thousands of elements, nested deep
        while stack:
            element = stack.pop()
            yield element
            stack.extend(reversed([child for child in element.children if isinstance(child, Element)]))

    def find_all(
        self, tag: str | None = None, test: Callable[[Element], bool] | None = None
    ) -> list[Element]:
        """Return the elements inside (this one included) with `tag` (any if None) that pass `test`."""
        return [e for e in self.walk() if (tag is None or e.tag == tag) and (test is None or test(e))]

    def by_id(self, name: str) -> Element:
        """Return the element whose id is `name`."""
        found = self.find_all(test=lambda e: e.attrs.get("id") == name)
        assert len(found) == 1, f"{len(found)} elements with id {name!r}"
        return found[0]

    def having(self, attribute: str, tag: str | None = None) -> list[Element]:
        """Return the elements inside that carry `attribute`."""
        return self.find_all(tag, lambda e: attribute in e.attrs)


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs}, parent=self.current)
        self.current.children.append(element)
        if tag not in _VOID:
            self.current = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs}, parent=self.current)
        self.current.children.append(element)

    def handle_endtag(self, tag: str) -> None:
        node: Element | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None, f"</{tag}> closes nothing open"
        assert node.parent is not None, f"</{tag}> closes the document"
        self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(text: str) -> Element:
    """Return the document's tree."""
    builder = _Builder()
    builder.feed(text)
    builder.close()
    assert builder.current is builder.root, f"<{builder.current.tag}> left open"
    return builder.root
