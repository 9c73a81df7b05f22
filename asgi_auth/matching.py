"""Which requirements a request must meet: one for every route a supported router could run.

Routers read one request differently. Starlette strips `root_path` at a segment
boundary; Litestar splits the path at the first occurrence of `root_path` anywhere,
then strips slashes at both ends and collapses doubled ones; Quart and Django remove
it as a bare string prefix; a raw app routes on `scope["path"]` as the server gave it,
and servers disagree on whether that includes `root_path` (daphne even lets a client
set it with a header). Methods arrive in the client's case and Django, Quart and
Werkzeug upper-case them.

So instead of guessing which reading the app behind will make, the guard takes them
all: the *candidates* of a request are every route path and method those routers
could derive from it, and the request must satisfy the requirement of each distinct
rule they match (`AllOf`). In the common case every candidate lands on the same rule
and this is one requirement, looked up once and memoised.

A target that is not origin-form (absolute-form `http://x/admin`, asterisk `*`, no
leading slash) and a method that is not an RFC 9110 token are refused with 400: they
are where routers disagree most, and no ordinary client sends them.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, NamedTuple, Union

from ._asgi import RequestView, strip_root_path
from ._types import Scope
from .context import AuthContext
from .errors import AuthError, ErrorResponse

if TYPE_CHECKING:
    from .requirement import Requirement

__all__ = ["AllOf", "Reading", "Refusal", "candidate_methods", "is_method_token", "readings"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
MAX_METHOD_LENGTH = 32  # longer methods are not HTTP methods any router routes on
MAX_PATH_LENGTH = 8192  # longer paths get 414: each reading costs time in the path's length


class Reading(NamedTuple):
    """One router's view of a request: the route paths to try, and whether `default`
    applies when no rule matches them (`primary`)."""

    paths: tuple[str, ...]
    primary: bool


def readings(path: str, root_path: str, trusted_root_path: str = "") -> list[Reading]:
    """Every route path a supported router could match for `path` under `root_path`.

    The readings are Starlette's route path (first: `AuthContext.rule` names its
    rule), the path as sent (a raw app), `root_path` removed as a bare prefix (Quart,
    Django) and after its first occurrence anywhere (Litestar, Quart 0.20), Quart's
    `/ ` for a path outside `root_path` (which a route `/<name>` matches), the trusted
    root path removed when the app strips it itself (`FastAPI(root_path=...)`), and the
    normalised forms of each. A normalising router (Litestar) strips the trailing
    slash of its templates too, so a normalised path is tried with and without one.

    The rule of any template that matches a reading applies, else `default`, with one
    exception: under uvicorn's `--root-path` the path as sent is `root_path` plus the
    route path, which names no route of a correctly mounted app. When `root_path` is
    the one the policy was told to trust, that reading applies a rule only if one
    matches; a `root_path` the client may have chosen (daphne takes it from a header)
    gets no such exception. Quart's `/ ` gets none either, even under the trusted root
    path: hypercorn and granian hand an app any path a client sends beside the prefix,
    and Quart runs an undeclared `/<name>` on it, which `default` must then cover.
    """
    route = strip_root_path(path, root_path)
    bases: list[tuple[str, bool]] = [(route, True)]
    if trusted_root_path and trusted_root_path != root_path:
        bases.append((strip_root_path(route, trusted_root_path), True))
    synthetic = bool(root_path) and root_path == trusted_root_path and route != path
    bases.append((path, not synthetic))
    if root_path:
        if path.startswith(root_path):  # Quart, Django: a bare prefix, no boundary
            bases.append((path[len(root_path) :], True))
        if root_path in path:  # Litestar: after the first occurrence, wherever it is
            bases.append((path.split(root_path, 1)[1], True))
        if _outside(path, root_path):  # Quart: "/ ", which a route such as "/<name>" matches
            bases.append(("/ ", True))
    seen: dict[tuple[str, ...], bool] = {}
    for base, primary in bases:
        forms: list[tuple[str, ...]] = [(f,) if f == "/" else (f, f + "/") for f in _normal_forms(base)]
        if base.startswith("/") and not any(base in form for form in forms):
            forms.insert(0, (base,))
        for form in forms:
            seen[form] = seen.get(form, False) or primary
    return [Reading(paths, primary) for paths, primary in seen.items()]


def _outside(path: str, root_path: str) -> bool:
    """Whether Quart gives this request the path " " (its request's path "/ "): the path
    is `root_path` itself or does not start with it (0.22), or, read by the split of
    releases before, has nothing after its first occurrence or no occurrence (0.20)."""
    if path == root_path or not path.startswith(root_path):
        return True
    return path.split(root_path, 1)[1] == ""


def _normal_forms(path: str) -> list[str]:
    """The path as normalising routers see it: a leading slash, no empty segments
    (doubled or trailing slashes), surrounding whitespace stripped; and, when it has
    dot segments, those resolved too, as a proxy in front of the app may do."""
    segments = [s for s in path.strip().split("/") if s]
    forms = ["/" + "/".join(segments)]
    if "." in segments or ".." in segments:
        resolved: list[str] = []
        for segment in segments:
            if segment == "..":
                if resolved:
                    resolved.pop()
            elif segment != ".":
                resolved.append(segment)
        forms.append("/" + "/".join(resolved))
    return forms


def candidate_methods(method: str) -> list[str]:
    """The method upper-cased, as routers compare it, and as sent when that differs."""
    upper = method.upper()
    return [upper] if upper == method else [upper, method]


def is_method_token(method: str) -> bool:
    return len(method) <= MAX_METHOD_LENGTH and _TOKEN.fullmatch(method) is not None


Decision = Union[AuthContext, ErrorResponse]


class Refusal:
    """A request refused before any rule is looked at (a target or method routers disagree on).

    Shaped like a requirement, so the middleware answers it on the path it answers
    every refusal on (`on_error` included).
    """

    __slots__ = ("response",)
    public = False
    public_context = None
    rule = None

    def __init__(self, detail: str, status_code: int = 400) -> None:
        self.response = ErrorResponse(AuthError(detail, status_code=status_code))

    def decide(self, scope: Scope, request: RequestView | None = None) -> Decision:
        return self.response


class AllOf:
    """Several rules' requirements, all of which a request must meet.

    Decided in order and refused by the first that refuses. The context handed to the
    app is the first authenticated one, else the first: the primary candidate
    (Starlette's route path) comes first, so `AuthContext.rule` names its rule.
    """

    __slots__ = ("parts", "rule")
    public = False
    public_context = None

    def __init__(self, parts: Sequence[Requirement]) -> None:
        self.parts = tuple(parts)
        self.rule = self.parts[0].rule

    def decide(self, scope: Scope, request: RequestView | None = None) -> Awaitable[Decision]:
        return self._decide(request or RequestView(scope))

    async def _decide(self, request: RequestView) -> Decision:
        chosen: AuthContext | None = None
        for part in self.parts:
            if part.public:
                decision: Decision = part.anonymous_context
            else:
                pending = part.decide(request.scope, request)  # one view: what one part spent, all have
                decision = pending if isinstance(pending, (AuthContext, ErrorResponse)) else await pending
            if isinstance(decision, ErrorResponse):
                return decision
            if chosen is None or (decision.authenticated and not chosen.authenticated):
                chosen = decision
        return chosen if chosen is not None else self.parts[0].anonymous_context

    def __repr__(self) -> str:
        return f"AllOf({list(self.parts)!r})"
