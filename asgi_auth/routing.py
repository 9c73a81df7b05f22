"""Path templates compiled into a segment trie: most specific rule first, any table size.

A lookup walks one trie node per path segment, trying a literal child (one dict
lookup), then the mixed segments that hold the value's anchoring literal, then the
whole-segment parameters, then a `{name:path}` tail, and backtracks only when a branch
dead-ends. Its cost depends on the depth and length of the path and the shape of the
templates, never on how many rules there are; adding a rule costs the same at any size.

Matching errs on the side of the rule: wherever some router would run a handler for a
path, the rule for that handler's template applies. So a typed segment matches what
Starlette's regex accepts *or* what Python's constructor accepts (Litestar converts
`{n:int}` with `int()`, which takes `" 12 "` and `"+1_2"`), and one trailing newline is
ignored (Starlette's route regexes end in `$`, which matches before a final `\n`).
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .errors import ConfigurationError

__all__ = ["Router", "Template", "parse_template"]

T = TypeVar("T")

# Starlette's converters: the same regexes, so the guard and the router agree.
CONVERTERS: dict[str, str] = {
    "str": "[^/]+",
    "int": "[0-9]+",
    "float": r"[0-9]+(?:\.[0-9]+)?",
    "uuid": "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "path": ".*",
}
# What routers that convert with Python's own constructors accept besides the regex.
_CONSTRUCTORS: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "uuid": uuid.UUID}
_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::([a-zA-Z_][a-zA-Z0-9_]*))?}")

# Priorities of segment kinds, most specific first.
LITERAL, MIXED, TYPED, PARAM, TAIL = range(5)
# Where a mixed segment's anchoring literal stands.
PREFIX, SUFFIX, INNER = range(3)


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment of a template; `key` is its shape, with parameter names erased."""

    kind: int
    key: str
    #: The regex a value must match in full; `None`: any non-empty value. A mixed
    #: segment's is kept to document it and is never compiled (see `_match_mixed`).
    pattern: str | None = None
    convert: Callable[[str], Any] | None = None
    #: For a mixed segment, a literal every matching value holds, and where:
    #: `(PREFIX, ".v")`, `(SUFFIX, ".txt")`, `(INNER, "-")`; `None` when it has none.
    anchor: tuple[int, str] | None = None
    #: For a mixed segment, its literals (before, between and after its parameters)
    #: and its parameters' converters: matched without a regex of its own.
    literals: tuple[str, ...] = ()
    converters: tuple[str, ...] = ()

    def matches(self, value: str) -> bool:
        if self.pattern is None:  # a plain {name}: any non-empty segment
            return value != ""
        if self.kind == MIXED:
            if self.converters == ("str",):  # `{name}.txt`, `v{name}`: its literals and no '/'
                head, tail = self.literals
                return (
                    len(value) > len(head) + len(tail)
                    and value.startswith(head)
                    and value.endswith(tail)
                    and "/" not in value
                )
            return _match_mixed(value, self.literals, self.converters)
        if _compiled(self.pattern).fullmatch(value) is not None:
            return True
        if self.convert is None:
            return False
        try:
            self.convert(value)
        except (ValueError, TypeError, OverflowError):
            return False
        return True


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed rule path such as `/items/{id:int}` or `/static/{rest:path}`."""

    source: str
    segments: tuple[Segment, ...]

    @property
    def shape(self) -> str:
        """The template with parameter names erased: two rules of one shape tie."""
        return "/".join(s.key for s in self.segments)


def parse_template(source: str) -> Template:
    """Parse a Starlette-style path template, refusing anything ambiguous."""
    if not isinstance(source, str) or not source.startswith("/"):
        raise ConfigurationError(f"path template {source!r} must be a string starting with '/'")
    parts = source.split("/")[1:]
    segments: list[Segment] = []
    names: set[str] = set()
    for index, part in enumerate(parts):
        params = list(_PARAM.finditer(part))
        stripped = _PARAM.sub("", part)
        if "{" in stripped or "}" in stripped:
            raise ConfigurationError(f"path template {source!r}: malformed parameter in segment {part!r}")
        if not params:
            segments.append(Segment(LITERAL, part))
            continue
        for match in params:
            name, conv = match.group(1), match.group(2) or "str"
            if conv not in CONVERTERS:
                raise ConfigurationError(
                    f"path template {source!r}: unknown converter {conv!r} (known: {', '.join(CONVERTERS)})"
                )
            if name in names:
                raise ConfigurationError(f"path template {source!r}: parameter {name!r} appears twice")
            names.add(name)
        whole = len(params) == 1 and params[0].group(0) == part
        conv = params[0].group(2) or "str"
        if whole and conv == "path":
            if index != len(parts) - 1:
                raise ConfigurationError(
                    f"path template {source!r}: a {{name:path}} parameter must be the last segment"
                )
            segments.append(Segment(TAIL, "{:path}"))
        elif whole and conv == "str":
            segments.append(Segment(PARAM, "{}"))
        elif whole:
            segments.append(Segment(TYPED, "{:" + conv + "}", CONVERTERS[conv], _CONSTRUCTORS.get(conv)))
        else:
            if any((m.group(2) or "str") == "path" for m in params):
                raise ConfigurationError(f"path template {source!r}: a {{name:path}} parameter must be a whole segment")
            pattern, key, last, literals = "", "", 0, []
            for m in params:
                literal = part[last : m.start()]
                literals.append(literal)
                pattern += re.escape(literal) + "(?:" + CONVERTERS[m.group(2) or "str"] + ")"
                key += literal + "{:" + (m.group(2) or "str") + "}"
                last = m.end()
            literals.append(part[last:])
            pattern += re.escape(part[last:])
            key += part[last:]
            converters = tuple(m.group(2) or "str" for m in params)
            segments.append(
                Segment(MIXED, key, pattern, anchor=_anchor(literals), literals=tuple(literals), converters=converters)
            )
    return Template(source, tuple(segments))


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """Compiled once per distinct pattern (a whole-segment converter's: a few at most)."""
    return re.compile(pattern)


def _fits(converter: str, value: str, start: int, end: int) -> bool:
    """Whether `value[start:end]` is what `converter`'s regex matches in full."""
    if start >= end:  # every converter takes one character at least
        return False
    if converter == "str":  # [^/]+
        return value.find("/", start, end) == -1
    return _compiled(CONVERTERS[converter]).fullmatch(value, start, end) is not None


def _match_mixed(value: str, literals: tuple[str, ...], converters: tuple[str, ...]) -> bool:
    """Whether `value` matches a mixed segment in full, as the segment's regex
    (`re.escape(literal)` and each converter's regex in turn) would, but with only the
    converters' own regexes: compiling one regex per rule would make the first request
    to each rule pay for a compilation, and a table of them cost memory in its size.

    Parameter `j` is tried up to each place the literal after it occurs; a failed
    (parameter, start) pair is not tried again, so the work stays polynomial in the
    value's length, like the regex's.
    """
    head, tail = literals[0], literals[-1]
    if len(value) < len(head) + len(tail) or not value.startswith(head) or not value.endswith(tail):
        return False
    end = len(value) - len(tail)
    last = len(converters) - 1
    if last == 0:  # one parameter, between the two literals: the common case
        return _fits(converters[0], value, len(head), end)
    failed: set[tuple[int, int]] = set()

    def param(j: int, start: int) -> bool:
        if j == last:
            return _fits(converters[j], value, start, end)
        if (j, start) in failed:
            return False
        literal = literals[j + 1]
        at = value.find(literal, start + 1, end)
        while at != -1:
            if _fits(converters[j], value, start, at) and param(j + 1, at + len(literal)):
                return True
            at = value.find(literal, at + 1, end)
        failed.add((j, start))
        return False

    return param(0, len(head))


def _anchor(literals: list[str]) -> tuple[int, str] | None:
    """The literal to find a mixed segment by: its prefix, else its suffix, else its
    longest inner literal (`literals` are those before, between and after parameters)."""
    if literals[0]:
        return PREFIX, literals[0]
    if literals[-1]:
        return SUFFIX, literals[-1]
    inner = max(literals[1:-1], key=len, default="")
    return (INNER, inner) if inner else None


class _Leaf(Generic[T]):
    """The values of the templates that end at one trie node, by method."""

    __slots__ = ("any", "by_method")

    def __init__(self) -> None:
        self.by_method: dict[str, T] | None = None
        self.any: T | None = None

    def add(self, methods: frozenset[str] | None, value: T) -> str | bool | None:
        """Add `value`; on a tie, the method (or `None` for any) that is taken already, else False."""
        for method in sorted(methods) if methods is not None else [None]:
            if (self.any is not None) if method is None else (self.by_method is not None and method in self.by_method):
                return method
        if methods is None:
            self.any = value
        else:
            if self.by_method is None:
                self.by_method = {}
            for method in methods:
                self.by_method[method] = value
        return False

    def pick(self, method: str) -> T | None:
        by_method = self.by_method
        if by_method is not None:
            value = by_method.get(method)
            if value is None and method == "HEAD":
                value = by_method.get("GET")
            if value is not None:
                return value
        return self.any


@dataclass(slots=True)
class _Node(Generic[T]):
    """One trie node; its containers are made when a rule first needs them."""

    literals: dict[str, _Node[T]] | None = None
    #: Whole-segment parameters (`{id:int}`, then `{name}`): one per converter at most.
    params: list[tuple[Segment, _Node[T]]] | None = None
    mixed: _Mixed[T] | None = None
    #: Every parameter child by its shape, so that adding a rule finds its branch at once.
    by_shape: dict[str, _Node[T]] | None = None
    leaf: _Leaf[T] | None = None
    tail: _Leaf[T] | None = None


_Entry = tuple[int, Segment, "_Node[T]"]


class _Mixed(Generic[T]):
    """The mixed segments (`{name}.txt`, `v{n:int}`) below one node, found by their anchors.

    A value can only match a segment whose anchoring literal it holds at that place,
    so a lookup lands, with one dict probe per distinct anchor length, on the few
    segments worth matching: the cost follows the value's length, never the
    number of rules. Candidates are tried in the order their rules were added.
    """

    __slots__ = ("by_end", "entries", "inner", "inner_lengths", "loose")

    def __init__(self) -> None:
        self.entries: list[_Entry[T]] = []
        # (PREFIX or SUFFIX) -> literal length -> literal -> entries
        self.by_end: tuple[dict[int, dict[str, list[_Entry[T]]]], ...] = ({}, {})
        self.inner: dict[str, list[_Entry[T]]] = {}
        self.inner_lengths: set[int] = set()
        self.loose: list[_Entry[T]] = []

    def add(self, segment: Segment, node: _Node[T]) -> None:
        entry = (len(self.entries), segment, node)
        self.entries.append(entry)
        if segment.anchor is None:
            self.loose.append(entry)
            return
        where, literal = segment.anchor
        if where == INNER:
            self.inner.setdefault(literal, []).append(entry)
            self.inner_lengths.add(len(literal))
        else:
            self.by_end[where].setdefault(len(literal), {}).setdefault(literal, []).append(entry)

    def candidates(self, value: str) -> list[_Entry[T]]:
        found: dict[int, _Entry[T]] = {}
        n = len(value)
        for where, tables in enumerate(self.by_end):
            for length, table in tables.items():
                if length <= n:
                    for entry in table.get(value[:length] if where == PREFIX else value[n - length :], ()):
                        found[entry[0]] = entry
        if self.inner:
            # A substring search per inner literal, or a probe per window of each
            # literal length when there are more literals than windows.
            windows = sum(max(0, n - length + 1) for length in self.inner_lengths)
            if len(self.inner) <= windows:
                hits = [entries for literal, entries in self.inner.items() if literal in value]
            else:
                hits = [
                    self.inner[value[i : i + length]]
                    for length in self.inner_lengths
                    for i in range(n - length + 1)
                    if value[i : i + length] in self.inner
                ]
            for entries in hits:
                for entry in entries:
                    found[entry[0]] = entry
        for entry in self.loose:
            found[entry[0]] = entry
        return [found[order] for order in sorted(found)] if len(found) > 1 else list(found.values())


class Router(Generic[T]):
    """Maps (path, method) to the value of the most specific matching template."""

    def __init__(self) -> None:
        self._root: _Node[T] = _Node()
        # Templates without parameters, by path: found with one dict lookup, and always
        # the most specific match when they match at all.
        self._static: dict[str, _Leaf[T]] = {}
        self._entries: list[tuple[Template, frozenset[str] | None, T]] = []

    def add(self, template: Template, methods: frozenset[str] | None, value: T) -> None:
        if all(segment.kind == LITERAL for segment in template.segments):
            # Found by one dict lookup, and the most specific match whenever it matches:
            # a template without parameters needs no place in the trie.
            leaf = self._static.get(template.source)
            if leaf is None:
                leaf = self._static[template.source] = _Leaf()
        else:
            leaf = self._leaf_for(template.segments)
        taken = leaf.add(methods, value)
        if taken is not False:
            what = f"method {taken}" if taken else "any method"
            other = next(
                t.source
                for t, m, _ in self._entries
                if t.shape == template.shape and (m is None if taken is None else m is not None and taken in m)
            )
            raise ConfigurationError(
                f"rules {other!r} and {template.source!r} tie for {what}: make one more specific or merge them"
            )
        self._entries.append((template, methods, value))

    def _leaf_for(self, segments: tuple[Segment, ...]) -> _Leaf[T]:
        """The leaf a template with parameters ends at, its nodes made on the way."""
        node = self._root
        for segment in segments:
            if segment.kind == TAIL:
                if node.tail is None:
                    node.tail = _Leaf()
                return node.tail
            if segment.kind == LITERAL:
                if node.literals is None:
                    node.literals = {}
                child = node.literals.get(segment.key)
                if child is None:
                    child = node.literals[segment.key] = _Node()
                node = child
                continue
            if node.by_shape is None:
                node.by_shape = {}
            child = node.by_shape.get(segment.key)
            if child is None:
                child = node.by_shape[segment.key] = _Node()
                if segment.kind == MIXED:
                    if node.mixed is None:
                        node.mixed = _Mixed()
                    node.mixed.add(segment, child)
                else:
                    if node.params is None:
                        node.params = []
                    node.params.append((segment, child))
                    node.params.sort(key=lambda pair: pair[0].kind)  # typed before plain; a few at most
            node = child
        if node.leaf is None:
            node.leaf = _Leaf()
        return node.leaf

    def __iter__(self) -> Iterator[tuple[Template, frozenset[str] | None, T]]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def match(self, path: str, method: str) -> T | None:
        """The value of the most specific template matching `path` for `method`."""
        if path.endswith("\n"):
            path = path[:-1]
        leaf = self._static.get(path)
        if leaf is not None:
            found = leaf.pick(method)
            if found is not None:
                return found
        if not path.startswith("/"):
            return None
        return _walk(self._root, path.split("/"), 1, method)

    def match_segments(self, accept: Callable[[Segment, str], bool], path: str, method: str) -> T | None:
        """Like `match`, with a custom test for parameter segments (used on templates)."""
        leaf = self._static.get(path)
        if leaf is not None:
            found = leaf.pick(method)
            if found is not None:
                return found
        if not path.startswith("/"):
            return None
        return _walk(self._root, path.split("/"), 1, method, accept)


def _walk(
    node: _Node[T],
    parts: list[str],
    index: int,
    method: str,
    accept: Callable[[Segment, str], bool] | None = None,
) -> T | None:
    # Recursion depth is bounded by the depth of the trie, not by the request's path.
    if index == len(parts):
        if node.leaf is not None:
            found = node.leaf.pick(method)
            if found is not None:
                return found
        return None
    part = parts[index]
    child = node.literals.get(part) if node.literals is not None else None
    if child is not None:
        found = _walk(child, parts, index + 1, method, accept)
        if found is not None:
            return found
    if node.mixed is not None:
        # A custom test (on document templates) may accept what no anchor finds.
        for _, segment, child in node.mixed.candidates(part) if accept is None else node.mixed.entries:
            if accept(segment, part) if accept is not None else segment.matches(part):
                found = _walk(child, parts, index + 1, method, accept)
                if found is not None:
                    return found
    for segment, child in node.params or ():
        if accept(segment, part) if accept is not None else segment.matches(part):
            found = _walk(child, parts, index + 1, method, accept)
            if found is not None:
                return found
    if node.tail is not None:
        return node.tail.pick(method)
    return None
