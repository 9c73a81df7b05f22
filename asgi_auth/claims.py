"""`Claim`: a requirement on the principal's claims, written beside the scopes it adds to.

    require={bearer: ["items", aa.Claim("realm_access", "roles", contains="admin")]}

A claim is named by its path, one argument per level, each taken literally — so a
Keycloak client id or an Auth0 namespace with dots in it (`"https://example.com/roles"`)
is one level, never split. One test per claim:

- `equals=v`: the claim is `v` (JSON types kept apart: `true` is not `1`, `"1"` is not `1`);
- `one_of=[a, b]`: the claim is one of them;
- `contains=v` or `contains=[a, b]`: the claim is a JSON array holding each of them;
- `contains_any=[a, b]`: the claim is a JSON array holding at least one of them.

A missing claim, a path through something that is not an object, or a value of another
shape fails the test: it never passes by accident. Several claims in one requirement
must all hold, as its scopes must; an alternative (`[req1, req2]`) is how to say "or".
Claims are read from the verified principal's `claims` (a JWT's payload, an
introspection response), and a failure is a 403 naming the claim and the test, never
the value the token carried.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Union

from .errors import ConfigurationError

__all__ = ["Claim", "Scalar", "failing"]

Scalar = Union[str, int, float, bool, None]
"""A JSON value a claim can be compared with."""

#: Levels a claim's path may have: real tokens nest two or three deep.
MAX_DEPTH = 8
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_MISSING: Any = object()
_TESTS = ("equals", "one_of", "contains", "contains_any")


def _scalar(value: Any, where: str) -> Scalar:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ConfigurationError(f"{where}: {value!r} is not a JSON scalar (a string, number, boolean or None)")


def _values(value: Any, where: str) -> tuple[Scalar, ...]:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return (value,)
    if not isinstance(value, Iterable):
        raise ConfigurationError(f"{where}: {value!r} is not a value or a list of values")
    values = tuple(dict.fromkeys(_scalar(v, where) for v in value))
    if not values:
        raise ConfigurationError(f"{where}: an empty list matches nothing")
    return values


def _same(claim: Any, wanted: Scalar) -> bool:
    """JSON equality: booleans apart from numbers, numbers by value, strings by value."""
    if isinstance(wanted, bool) or isinstance(claim, bool):
        return claim is wanted
    if isinstance(wanted, (int, float)):
        return type(claim) in (int, float) and claim == wanted
    return type(claim) is type(wanted) and claim == wanted


class Claim:
    """One test of one claim: `Claim(*path, equals= | one_of= | contains= | contains_any=)`."""

    __slots__ = ("_key", "_strings", "path", "test", "values")

    def __init__(
        self,
        *path: str,
        equals: Any = _MISSING,
        one_of: Any = _MISSING,
        contains: Any = _MISSING,
        contains_any: Any = _MISSING,
    ) -> None:
        where = f"Claim{path!r}"
        if not path or not all(isinstance(p, str) and p for p in path):
            raise ConfigurationError(f"{where}: name the claim, one non-empty string per level")
        if len(path) > MAX_DEPTH:
            raise ConfigurationError(f"{where}: at most {MAX_DEPTH} levels")
        if len(path) == 1 and "." in path[0] and "/" not in path[0] and ":" not in path[0]:
            nested = ", ".join(repr(p) for p in path[0].split("."))
            raise ConfigurationError(
                f"{where}: each level is its own argument; for a nested claim write Claim({nested}, ...)"
            )
        given = {name: value for name, value in zip(_TESTS, (equals, one_of, contains, contains_any), strict=True)}
        chosen = [name for name, value in given.items() if value is not _MISSING]
        if len(chosen) != 1:
            raise ConfigurationError(f"{where}: give exactly one of {', '.join(n + '=' for n in _TESTS)}")
        self.path: tuple[str, ...] = path
        self.test: str = chosen[0]
        value = given[self.test]
        self.values: tuple[Scalar, ...] = (_scalar(value, where),) if self.test == "equals" else _values(value, where)
        self._key = (self.path, self.test, tuple((type(v).__name__, v) for v in self.values))
        #: Strings only: a JSON string equals only a string, so `==` and `in` are exact.
        self._strings: frozenset[str] | None = (
            frozenset(v for v in self.values if type(v) is str) if all(type(v) is str for v in self.values) else None
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Claim) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        path = ", ".join(repr(p) for p in self.path)
        value = self.values[0] if self.test == "equals" else list(self.values)
        return f"Claim({path}, {self.test}={value!r})"

    @property
    def name(self) -> str:
        """The path as one reads it: `realm_access.roles`, `["https://example.com/roles"]`."""
        out = ""
        for level in self.path:
            if _PLAIN.fullmatch(level):
                out += ("." if out else "") + level
            else:
                out += f"[{json.dumps(level)}]"
        return out

    def describe(self) -> str:
        """`realm_access.roles contains "admin"`: the requirement, not any token's value."""
        values = ", ".join(json.dumps(v) for v in self.values)
        verb = {"equals": "equals", "one_of": "is one of", "contains": "contains", "contains_any": "contains any of"}
        return f"{self.name} {verb[self.test]} {values}"

    def openapi(self) -> dict[str, Any]:
        """`{"claim": ["realm_access", "roles"], "contains": ["admin"]}`."""
        value: Any = self.values[0] if self.test == "equals" else list(self.values)
        return {"claim": list(self.path), self.test: value}

    @classmethod
    def from_openapi(cls, test: Mapping[str, Any]) -> Claim:
        """The claim `openapi()` wrote (how `asgi-auth routes` reads the patched shape back)."""
        path = test["claim"]
        (name,) = (key for key in test if key != "claim")
        return cls(*path, **{name: test[name]})

    def holds(self, claims: Any) -> bool:
        """Whether the test passes on a principal's claims (a mapping; anything else fails)."""
        node: Any = claims
        for level in self.path:
            if not (type(node) is MappingProxyType or type(node) is dict or isinstance(node, Mapping)):
                return False
            node = node.get(level, _MISSING)
            if node is _MISSING:
                return False
        test, strings = self.test, self._strings
        if test == "equals" or test == "one_of":
            if strings is not None:
                return type(node) is str and node in strings
            return any(_same(node, v) for v in self.values)
        if type(node) is not list:
            return False
        if strings is not None:
            if test == "contains":
                for wanted in strings:  # noqa: SIM110 - a loop: all() would build a generator per request
                    if wanted not in node:
                        return False
                return True
            return not strings.isdisjoint(item for item in node if type(item) is str)
        if test == "contains":
            return all(any(_same(item, v) for item in node) for v in self.values)
        return any(_same(item, v) for item in node for v in self.values)


def failing(claims_required: tuple[Claim, ...], principal: Any) -> Claim | None:
    """The first required claim the principal's claims do not satisfy, else `None`."""
    claims = getattr(principal, "claims", None)
    for claim in claims_required:
        if not claim.holds(claims):
            return claim
    return None
