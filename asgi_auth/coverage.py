"""Which requirements the policy gives the requests one operation accepts.

A template such as `/items/{item_id}` stands for many request paths, and rules may
treat them differently: pydantic reads `/items/1.0` as the int 1, which an
`{item_id:int}` rule does not match; `/files/a.pdf` is outside a `{name}.txt` rule;
FastAPI documents `{file_path:path}` as `{file_path}`, so `/static/a/b` is one
operation's request too. An operation is only called protected when *every* request it
accepts gets a requirement that refuses anonymous callers.

How it is decided: the concrete paths are split into classes that every rule treats
alike — at each segment, by which of the rules' segments (literal, typed, mixed,
plain) accept the value, and whether it is a dot segment or empty. One witness per
class is drawn from the rules' own segments and a fixed set of values that routers
read differently (signs, dots, floats, spaces, UUID spellings), filtered by what the
operation accepts, and each witness path is matched with `AuthPolicy.match`: the rule
for the route the app's router runs it on. (The guard may ask more of a request than
that — `AuthPolicy.for_request` adds the rules of other routers' readings, such as a
resolved `/files/./..` — which never makes a protected operation less so.)
When the classes are too many to try (a budget per operation), the answer falls back
to every rule that could match, plus the default: weaker, never falsely strict.

This module owns "the requirement for a document operation or an app route": the
OpenAPI patcher and `asgi-auth routes` both ask it, and it reads the policy only
through `AuthPolicy.rules`, `AuthPolicy.default` and `AuthPolicy.match`.
"""

from __future__ import annotations

import itertools
import math
import re
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .policy import AuthPolicy
from .requirement import Requirement
from .routing import LITERAL, TAIL, Segment, Template, parse_template
from .schemes.base import SecurityScheme

__all__ = ["Coverage", "Param", "cover", "doc_parts", "route_parts", "schema_accepts"]

Accepts = Callable[[str], bool]
"""Whether a path segment's value is one an operation accepts. It may carry `examples`:
values it accepts that no fixed sample would guess (an enum's members)."""

#: Witness paths matched per operation before falling back to the over-approximation.
BUDGET = 2048
#: Classes of values at one segment before falling back (a segment where thousands of
#: literal rules branch is answered by the fallback, not path by path).
MAX_CLASSES = 128

_UUID = "12345678-1234-1234-1234-123456789abc"
# Values routers and validators read differently: what pydantic takes for an int but an
# `{n:int}` rule does not ("1.0"), what int() takes but Starlette's regex does not (" 1",
# "+1", "1_0"), dot segments, and UUID spellings that uuid.UUID accepts.
SAMPLES: tuple[str, ...] = (
    "a",
    "abc",
    "Z",
    "a.b",
    "a.txt",
    "a-b",
    "a b",
    "é",
    "%41",
    "~",
    "0",
    "1",
    "7",
    "01",
    "-1",
    "+1",
    " 1",
    "1 ",
    "1_0",
    "1.0",
    "-1.0",
    "1.5",
    "1.",
    ".5",
    "1e3",
    "inf",
    "nan",
    ".",
    "..",
    "true",
    "false",
    "on",
    _UUID,
    _UUID.upper(),
    _UUID.replace("-", ""),
    "{" + _UUID + "}",
    "urn:uuid:" + _UUID,
)
_BY_CONVERTER = {"str": ("a", "a.b"), "int": ("1", "12"), "float": ("1.5", "1"), "uuid": (_UUID,), "path": ("a",)}
_CONVERTER_IN_KEY = re.compile(r"{:([a-z]+)}")
_DOC_PARAM = re.compile(r"{([^{}/]+)}")
_ROUTE_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-zA-Z_][a-zA-Z0-9_]*)?}")
_TRUTHY = frozenset({"0", "1", "true", "false", "yes", "no", "on", "off", "t", "f", "y", "n"})


@dataclass(frozen=True)
class Param:
    """A parameter of an operation's path: the values it accepts, and whether it spans
    several segments (`{name:path}`)."""

    name: str
    accepts: Accepts
    tail: bool = False


Part = str | Param


# -- what an operation accepts ---------------------------------------------------------


def _segment(value: str) -> bool:
    return value != "" and "/" not in value


def _is_int(value: str) -> bool:
    try:
        int(value)
        return True
    except ValueError:
        pass
    try:  # pydantic takes "1.0" for 1; over-approximated by every integral float
        number = float(value)
    except ValueError:
        return False
    return math.isfinite(number) and number.is_integer()


def _is_number(value: str) -> bool:
    try:
        float(value)
        return True
    except ValueError:
        return _is_int(value)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value.strip())
        return True
    except ValueError:
        return False


def schema_accepts(schema: Any, resolve: Callable[[str], Any] | None = None, depth: int = 0) -> Accepts:
    """The path-segment values a parameter with this JSON schema can be read as.

    Over-approximates pydantic's lax mode (what FastAPI validates with): an operation is
    credited with every value it *might* accept, never fewer, so the coverage it gets is
    never overstated. Unknown shapes accept any segment.
    """
    if depth > 16 or not isinstance(schema, Mapping):
        return _segment
    ref = schema.get("$ref")
    if isinstance(ref, str) and resolve is not None:
        return schema_accepts(resolve(ref), resolve, depth + 1)
    for union in ("anyOf", "oneOf"):
        members = schema.get(union)
        if isinstance(members, list) and members:
            tests = [schema_accepts(m, resolve, depth + 1) for m in members]
            return lambda v: any(t(v) for t in tests)
    members = schema.get("allOf")
    if isinstance(members, list) and members:
        tests = [schema_accepts(m, resolve, depth + 1) for m in members]
        return lambda v: all(t(v) for t in tests)
    values = schema.get("enum", [schema["const"]] if "const" in schema else None)
    if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
        return _Members(values)
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds if isinstance(kinds, list) else None
    if not kinds:
        return _segment
    tests = []
    for kind in kinds:
        if kind == "integer":
            tests.append(_is_int)
        elif kind == "number":
            tests.append(_is_number)
        elif kind == "boolean":
            tests.append(lambda v: v.strip().lower() in _TRUTHY)
        elif kind == "string" and schema.get("format") == "uuid":
            tests.append(_is_uuid)
        elif kind != "null":
            tests.append(_segment)
    return lambda v: _segment(v) and any(t(v) for t in tests)


class _Members:
    """An enum's values: accepted exactly, and each a witness of its own."""

    def __init__(self, values: Iterable[str]) -> None:
        self.examples = tuple(dict.fromkeys(values))
        self._allowed = frozenset(self.examples)

    def __call__(self, value: str) -> bool:
        return value in self._allowed


def _both(first: Accepts, second: Accepts) -> Accepts:
    def test(value: str) -> bool:
        return first(value) and second(value)

    test.examples = (*getattr(first, "examples", ()), *getattr(second, "examples", ()))  # type: ignore[attr-defined]
    return test


def _fullmatch(regex: re.Pattern[str]) -> Accepts:
    return lambda value: regex.fullmatch(value) is not None


def _pattern(segment: str, params: Iterable[re.Match[str]]) -> re.Pattern[str]:
    out, last = "", 0
    for match in params:
        out += re.escape(segment[last : match.start()]) + "[^/]+"
        last = match.end()
    return re.compile(out + re.escape(segment[last:]))


def doc_parts(path: str, accepts: Mapping[str, Accepts] | None = None) -> list[Part]:
    """An OpenAPI path template as parts: `{name}` is one segment, read as `accepts[name]`."""
    parts: list[Part] = []
    for segment in path.split("/")[1:]:
        params = list(_DOC_PARAM.finditer(segment))
        if not params:
            parts.append(segment)
        elif len(params) == 1 and params[0].group(0) == segment:
            name = params[0].group(1)
            parts.append(Param(name, _both(_segment, (accepts or {}).get(name, _segment))))
        else:
            parts.append(Param(segment, _fullmatch(_pattern(segment, params))))
    return parts


def route_parts(path: str, accepts: Mapping[str, Accepts] | None = None) -> list[Part]:
    """A router's template (`/items/{id:int}`, `/static/{p:path}`) as parts; `accepts`
    narrows whole-segment parameters further (by name), as a validator would."""
    template = parse_template(path)
    parts: list[Part] = []
    for source, segment in zip(path.split("/")[1:], template.segments, strict=True):
        if segment.kind == LITERAL:
            parts.append(segment.key)
            continue
        names = _ROUTE_PARAM.findall(source)
        name = names[0] if len(names) == 1 else source
        if segment.kind == TAIL:
            parts.append(Param(name, lambda v: True, tail=True))
            continue
        narrower = (accepts or {}).get(name) if len(names) == 1 else None
        test = _both(_segment, segment.matches)
        parts.append(Param(name, test if narrower is None else _both(test, narrower)))
    return parts


def shape(path: str) -> str:
    """A template with converters and parameter names erased: how a router's path and
    the document's path for the same route are paired (`{p:path}` is written `{p}`)."""
    return _DOC_PARAM.sub("{}", path)


# -- the answer ------------------------------------------------------------------------


@dataclass
class Coverage:
    """The requirements the policy gives an operation's requests, each with an example."""

    method: str
    path: str
    found: dict[Requirement, str] = field(default_factory=dict)
    complete: bool = True

    @property
    def requirements(self) -> list[Requirement]:
        return list(self.found)

    @property
    def uniform(self) -> bool:
        """One requirement for every request the operation accepts."""
        return self.complete and len(self.found) == 1

    @property
    def public(self) -> bool:
        """Some request the operation accepts needs no authentication at all."""
        return any(r.public for r in self.found)

    @property
    def may_refuse(self) -> bool:
        """Some request the operation accepts may be refused (401/403)."""
        return any(not r.public for r in self.found)

    @property
    def on_default(self) -> bool:
        """Some request the operation accepts is matched by no rule."""
        return any(r.rule is None for r in self.found)

    @property
    def protected(self) -> bool:
        """Every request the operation accepts is refused without credentials."""
        return bool(self.found) and not any(r.anonymous_allowed for r in self.found)

    @property
    def schemes(self) -> list[SecurityScheme]:
        return list(dict.fromkeys(s for r in self.found for s in r.schemes))

    @property
    def scoped(self) -> bool:
        """Some request may be refused with 403: scopes or claims are required."""
        return any(scopes for r in self.found for alt in r.alternatives for _, scopes in alt.items) or any(
            alt.claims for r in self.found for alt in r.alternatives
        )

    def claims_openapi(self) -> list[dict[str, Any]]:
        """`x-asgi-auth-claims`: the claims each `security` entry also requires."""
        out: list[dict[str, Any]] = []
        for requirement in self.requirements:
            for entry in requirement.claims_openapi():
                if entry not in out:
                    out.append(entry)
        return out

    def openapi(self) -> list[dict[str, list[str]]]:
        """OpenAPI `security`: the one requirement, or the weakest that is true of all.

        Several requirements are written as their alternatives side by side (OR), with
        `{}` first when some request needs nothing: a client reading it is never told
        that credentials are needed where they are not.
        """
        requirements = self.requirements
        if len(requirements) == 1:
            return requirements[0].openapi()
        if requirements and all(r.public for r in requirements):
            return []
        out: list[dict[str, list[str]]] = []
        if any(r.anonymous_allowed for r in requirements):
            out.append({})
        for requirement in requirements:
            for entry in requirement.openapi():
                if entry not in out:
                    out.append(entry)
        return out

    def sources(self) -> str:
        """`rule '/items/{item_id:int}' (e.g. /items/1) | default (e.g. /items/1.0)`."""
        return " | ".join(
            f"{'default' if r.rule is None else 'rule ' + repr(r.rule)} (e.g. {example})"
            for r, example in self.found.items()
        )

    def warning(self) -> str:
        where = f"{self.method} {self.path}"
        if not self.complete:
            return (
                f"{where}: too many kinds of paths to check one by one; documented with the weakest of "
                f"every rule that could match: {self.sources()}"
            )
        return (
            f"{where} is not covered by one rule: its requests get {self.sources()}; documented as {self.openapi()!r}"
        )


# -- exploring the paths an operation accepts ------------------------------------------


class _Budget(Exception):
    pass


def _examples(segment: Segment) -> Iterator[str]:
    key = segment.key
    if segment.kind == LITERAL:
        yield key
        return
    converters = _CONVERTER_IN_KEY.findall(key) or ["str"]
    for choice in itertools.product(*(_BY_CONVERTER.get(c, ("a",)) for c in converters)):
        if "{:" not in key:
            yield choice[0]
            continue
        pieces = _CONVERTER_IN_KEY.split(key)  # literal, converter, literal, ...
        yield "".join(piece if i % 2 == 0 else choice[i // 2] for i, piece in enumerate(pieces))


def _alive(templates: Sequence[Template], position: int, value: str) -> list[Template]:
    """The templates that can still match once segment `position` is `value`."""
    out = []
    for template in templates:
        segments = template.segments
        if any(s.kind == TAIL for s in segments[:position]):
            out.append(template)
        elif position < len(segments):
            segment = segments[position]
            if (
                segment.kind == TAIL
                or (segment.kind == LITERAL and segment.key == value)
                or (segment.kind != LITERAL and segment.matches(value))
            ):
                out.append(template)
    return out


def _witnesses(templates: Sequence[Template], position: int, accepts: Accepts, empty: bool) -> list[str]:
    """One value per class of values that the live templates treat alike at `position`."""
    tests: list[Segment] = []
    literals: set[str] = set()
    candidates: list[str] = [*SAMPLES, *getattr(accepts, "examples", ())]
    for template in templates:
        segments = template.segments
        if position < len(segments) and not any(s.kind == TAIL for s in segments[:position]):
            segment = segments[position]
            if segment.kind == LITERAL:
                literals.add(segment.key)
            elif segment.kind != TAIL and segment not in tests:
                tests.append(segment)
            candidates.extend(_examples(segment))
    if empty:
        candidates.append("")
    classes: dict[tuple[Any, ...], str] = {}
    for value in dict.fromkeys(candidates):
        if not (accepts(value) or (empty and value == "")):
            continue
        signature = (
            value if value in literals or value in (".", "..", "") else None,
            *(s.matches(value) for s in tests),
        )
        classes.setdefault(signature, value)
        if len(classes) > MAX_CLASSES:
            raise _Budget
    return list(classes.values())


def _paths(parts: Sequence[Part], templates: Sequence[Template], budget: list[int]) -> Iterator[str]:
    def walk(position: int, index: int, alive: Sequence[Template], prefix: str) -> Iterator[str]:
        if index == len(parts):
            yield prefix or "/"
            return
        part = parts[index]
        if isinstance(part, str):
            yield from walk(position + 1, index + 1, _alive(alive, position, part), prefix + "/" + part)
            return
        if not part.tail:
            for value in _witnesses(alive, position, part.accepts, empty=False):
                yield from walk(position + 1, index + 1, _alive(alive, position, value), prefix + "/" + value)
            return
        # A `{name:path}` parameter: one or more segments, any of them empty, up to one
        # more than the longest live template, beyond which only tails are left.
        longest = max((len(t.segments) for t in alive), default=0)
        yield from tail(position, max(longest - position, 0) + 1, alive, prefix)

    def tail(position: int, left: int, alive: Sequence[Template], prefix: str) -> Iterator[str]:
        for value in _witnesses(alive, position, lambda v: "/" not in v, empty=True):
            budget[0] -= 1
            if budget[0] < 0:
                raise _Budget
            path = prefix + "/" + value
            yield path
            if left > 1:
                yield from tail(position + 1, left - 1, _alive(alive, position, value), path)

    for path in walk(0, 0, templates, ""):
        budget[0] -= 1
        if budget[0] < 0:
            raise _Budget
        yield path


def _could_match(template: Template, parts: Sequence[Part]) -> bool:
    """Whether `template` could bear on some path of `parts`: its segments agree with the
    operation's literal ones. Lengths are not compared, since a router may read a path
    with a slash more or less (a trailing one dropped) as another route's."""
    for segment, part in zip(template.segments, parts, strict=False):
        if segment.kind == TAIL or (isinstance(part, Param) and part.tail):
            return True
        if isinstance(part, str) and not (segment.key == part if segment.kind == LITERAL else segment.matches(part)):
            return False
    return True


def cover(policy: AuthPolicy, parts: Sequence[Part], method: str, *, label: str | None = None) -> Coverage:
    """The requirements `policy` gives the requests an operation accepts (see the module)."""
    method = method.upper()
    coverage = Coverage(method, label if label is not None else _label(parts))
    templates = [t for t in _index(policy).candidates(parts) if _could_match(t, parts)]
    budget = [BUDGET]
    try:
        for path in _paths(parts, templates, budget):
            requirement = policy.match(path, method)
            coverage.found.setdefault(requirement, path)
    except _Budget:
        coverage.complete = False
        coverage.found.setdefault(policy.default, "a path no rule matches")
        for template, methods, requirement in rules(policy):
            if (methods is None or method in methods or (method == "HEAD" and "GET" in methods)) and _could_match(
                template, parts
            ):
                coverage.found.setdefault(requirement, f"a path of {template.source}")
    if not coverage.found:  # nothing the samples could stand for: claim nothing
        coverage.complete = False
        coverage.found[policy.default] = "a path no sample stands for"
    return coverage


class _Prefixes:
    """The rules' templates by their leading literal segments, so that an operation only
    looks at the rules that could bear on it, not at all of them."""

    __slots__ = ("_below", "children", "here")

    def __init__(self) -> None:
        self.children: dict[str, _Prefixes] = {}
        self.here: list[Template] = []  # templates whose next segment is not a literal, or that end here
        self._below: list[Template] | None = None

    def add(self, template: Template) -> None:
        node = self
        for segment in template.segments:
            if segment.kind != LITERAL:
                break
            node = node.children.setdefault(segment.key, _Prefixes())
        node.here.append(template)

    def below(self) -> list[Template]:
        if self._below is None:
            self._below = [t for child in self.children.values() for t in (*child.here, *child.below())]
        return self._below

    def candidates(self, parts: Sequence[Part]) -> list[Template]:
        node, out = self, []
        for part in parts:
            out.extend(node.here)
            if isinstance(part, Param):
                return out + node.below()
            child = node.children.get(part)
            if child is None:
                return out
            node = child
        return out + node.here + node.below()


_indexes: weakref.WeakKeyDictionary[AuthPolicy, _Prefixes] = weakref.WeakKeyDictionary()


def _index(policy: AuthPolicy) -> _Prefixes:
    found = _indexes.get(policy)
    if found is None:
        found = _indexes[policy] = _Prefixes()
        for rule in policy.rules:
            found.add(rule.template)
    return found


def rules(policy: AuthPolicy) -> Iterator[tuple[Template, frozenset[str] | None, Requirement]]:
    """Every rule's template, methods and compiled requirement, read from the router's
    public iteration: the requirement objects `AuthPolicy.match` returns."""
    return iter(policy.router)


def _label(parts: Sequence[Part]) -> str:
    return "/" + "/".join(p if isinstance(p, str) else "{" + p.name + "}" for p in parts)
