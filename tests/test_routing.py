from __future__ import annotations

import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import compile_path

from asgi_auth.errors import ConfigurationError
from asgi_auth.routing import CONVERTERS, MIXED, Router, _compiled, parse_template


def router(*entries: tuple[str, list[str] | None]) -> Router[str]:
    r: Router[str] = Router()
    for path, methods in entries:
        label = path if methods is None else f"{','.join(methods)} {path}"
        r.add(parse_template(path), None if methods is None else frozenset(methods), label)
    return r


def test_literal_beats_param_beats_path() -> None:
    r = router(("/users/me", None), ("/users/{id}", None), ("/users/{rest:path}", None))
    assert r.match("/users/me", "GET") == "/users/me"
    assert r.match("/users/42", "GET") == "/users/{id}"
    assert r.match("/users/42/items", "GET") == "/users/{rest:path}"
    assert r.match("/users/", "GET") == "/users/{rest:path}"  # `.*` matches the empty rest
    assert r.match("/users", "GET") is None


def test_backtracks_when_the_literal_branch_dead_ends() -> None:
    r = router(("/a/b/c", None), ("/a/{x}/d", None))
    assert r.match("/a/b/d", "GET") == "/a/{x}/d"
    assert r.match("/a/b/c", "GET") == "/a/b/c"


def test_converters_follow_starlette() -> None:
    r = router(("/items/{id:int}", None), ("/items/{name}", None), ("/f/{x:float}", None), ("/u/{u:uuid}", None))
    assert r.match("/items/12", "GET") == "/items/{id:int}"
    assert r.match("/items/12a", "GET") == "/items/{name}"
    assert r.match("/f/1.5", "GET") == "/f/{x:float}"
    assert r.match("/f/abc", "GET") is None
    assert r.match("/u/3fa85f64-5717-4562-b3fc-2c963f66afa6", "GET") == "/u/{u:uuid}"
    assert r.match("/u/nope", "GET") is None


def test_mixed_segments() -> None:
    r = router(("/files/{name}.json", None), ("/files/{name}", None))
    assert r.match("/files/a.json", "GET") == "/files/{name}.json"
    assert r.match("/files/a.txt", "GET") == "/files/{name}"


def test_methods_head_follows_get_and_specific_beats_any() -> None:
    r = router(("/x", ["GET"]), ("/x", None), ("/y", ["POST"]))
    assert r.match("/x", "GET") == "GET /x"
    assert r.match("/x", "HEAD") == "GET /x"
    assert r.match("/x", "POST") == "/x"
    assert r.match("/y", "GET") is None
    assert r.match("/y", "POST") == "POST /y"


def test_method_miss_falls_back_to_a_less_specific_path() -> None:
    r = router(("/a/{x}", ["POST"]), ("/a/{rest:path}", None))
    assert r.match("/a/b", "GET") == "/a/{rest:path}"
    assert r.match("/a/b", "POST") == "POST /a/{x}"


def test_empty_segments_and_odd_paths_do_not_match_params() -> None:
    r = router(("/a/{x}/b", None))
    assert r.match("/a//b", "GET") is None
    assert r.match("", "GET") is None
    assert r.match("a/x/b", "GET") is None


@pytest.mark.parametrize(
    ("first", "second"),
    [("/a/{x}", "/a/{y}"), ("/a", "/a"), ("/p/{r:path}", "/p/{q:path}"), ("/i/{a:int}", "/i/{b:int}")],
)
def test_ties_are_configuration_errors(first: str, second: str) -> None:
    with pytest.raises(ConfigurationError, match="tie"):
        router((first, None), (second, None))


def test_same_path_different_methods_is_not_a_tie() -> None:
    r = router(("/a", ["GET"]), ("/a", ["POST"]))
    assert r.match("/a", "POST") == "POST /a"
    with pytest.raises(ConfigurationError, match="GET"):
        router(("/a", ["GET", "PUT"]), ("/a", ["GET"]))


@pytest.mark.parametrize(
    "bad", ["no-slash", "/a/{", "/a/}", "/a/{x:nope}", "/a/{x}/{x}", "/a/{p:path}/b", "/a/x{p:path}", "/{1x}"]
)
def test_malformed_templates(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_template(bad)


def test_agrees_with_starlettes_compiled_regex_on_random_paths() -> None:
    templates = ["/", "/a", "/a/{x}", "/a/{x}/b", "/a/{x:int}", "/b/{rest:path}", "/c/{n}.json", "/d/{u:uuid}/e"]
    rng = random.Random(7)
    alphabet = ["a", "b", "c", "d", "e", "1", "42", "x.json", "", "3fa85f64-5717-4562-b3fc-2c963f66afa6", "%2F"]
    for _ in range(3000):
        path = "/" + "/".join(rng.choice(alphabet) for _ in range(rng.randint(0, 4)))
        for template in templates:
            single = router((template, None))
            regex, _, _ = compile_path(template)
            assert (single.match(path, "GET") is not None) == (regex.match(path) is not None), (template, path)


def test_ten_thousand_rules_match_correctly() -> None:
    r: Router[str] = Router()
    for i in range(10_000):
        kind = i % 4
        path = [f"/svc{i}/items", f"/svc{i}/items/{{id}}", f"/svc{i}/files/{{p:path}}", f"/svc{i}/n/{{n:int}}"][kind]
        r.add(parse_template(path), None, path)
    assert len(r) == 10_000
    for i in range(0, 10_000, 97):
        kind = i % 4
        request, expected = [
            (f"/svc{i}/items", f"/svc{i}/items"),
            (f"/svc{i}/items/7", f"/svc{i}/items/{{id}}"),
            (f"/svc{i}/files/a/b.txt", f"/svc{i}/files/{{p:path}}"),
            (f"/svc{i}/n/12", f"/svc{i}/n/{{n:int}}"),
        ][kind]
        assert r.match(request, "GET") == expected
        assert r.match(f"/svc{i}/nothing/here", "GET") is None
    assert r.match("/svc10000/items", "GET") is None


def test_errs_on_the_side_of_the_rule_like_the_loosest_router() -> None:
    r = router(("/users/me", None), ("/n/{n:int}", None), ("/f/{x:float}", None), ("/u/{u:uuid}", None))
    # Starlette's `^...$` regexes match before one trailing newline (a `%0A` in the URL).
    assert r.match("/users/me\n", "GET") == "/users/me"
    assert r.match("/users/me\n\n", "GET") is None
    # Litestar converts with int()/float()/UUID(), which accept more than the regexes.
    for value in ["12 ", " 12", "+12", "1_2", "\u0661\u0662"]:
        assert r.match(f"/n/{value}", "GET") == "/n/{n:int}", value
    assert r.match("/n/12x", "GET") is None
    assert r.match("/f/1e3", "GET") == "/f/{x:float}"
    assert r.match("/u/3fa85f6457174562b3fc2c963f66afa6", "GET") == "/u/{u:uuid}"


def test_mixed_segments_are_found_by_their_anchor_whatever_the_number_of_rules() -> None:
    """Flat in the number of rules: a value is tried only against segments whose
    anchoring literal it holds (counted, not timed)."""
    router: Router[str] = Router()
    for i in range(5_000):
        router.add(parse_template(f"/files/{{name}}.v{i}"), None, f"suffix{i}")
        router.add(parse_template(f"/files/v{i}.{{name}}"), None, f"prefix{i}")
        router.add(parse_template(f"/files/{{a}}-v{i}-{{b}}"), None, f"inner{i}")
    assert router.match("/files/a.v4999", "GET") == "suffix4999"
    assert router.match("/files/v17.txt", "GET") == "prefix17"
    assert router.match("/files/x-v3-y", "GET") == "inner3"
    assert router.match("/files/plain", "GET") is None
    mixed = router._root.literals["files"].mixed
    assert mixed is not None
    assert [entry[2] for entry in mixed.candidates("a.v4999")] == [mixed.entries[3 * 4999][2]]
    assert len(mixed.candidates("x-v3-y")) == 1
    assert mixed.candidates("plain") == []


def test_mixed_segments_keep_the_order_their_rules_were_added_in() -> None:
    router: Router[str] = Router()
    router.add(parse_template("/f/{name}.{ext}"), None, "any extension")  # inner "." anchor
    router.add(parse_template("/f/{name}.txt"), None, "txt")  # suffix anchor
    router.add(parse_template("/f/{a}{b}"), None, "no literal")  # no anchor at all
    assert router.match("/f/a.txt", "GET") == "any extension"  # added first, as before
    assert router.match("/f/ab", "GET") == "no literal"
    assert router.match("/f/a.pdf", "GET") == "any extension"


_PIECES = ["", "a", ".", "-", ".v", "1", "x.y", "0"]
_CONVERTERS = ["str", "int", "float", "uuid"]
_VALUES = ["", "a", "1", "12", ".", "-", ".v", "1.5", "x", "/", "\n", "3fa85f64-5717-4562-b3fc-2c963f66afa6"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    literals=st.lists(st.sampled_from(_PIECES), min_size=2, max_size=4),
    converters=st.data(),
    value=st.lists(st.sampled_from(_VALUES), max_size=6).map("".join),
)
def test_mixed_segments_match_what_their_regex_matches(
    literals: list[str], converters: st.DataObject, value: str
) -> None:
    """A mixed segment is matched without a regex of its own: it must accept exactly
    what `re.escape(literal)` and the converters' regexes, in turn, accept in full."""
    kinds = converters.draw(
        st.lists(st.sampled_from(_CONVERTERS), min_size=len(literals) - 1, max_size=len(literals) - 1)
    )
    part = (
        "".join(f"{lit}{{p{i}:{kind}}}" for i, (lit, kind) in enumerate(zip(literals[:-1], kinds, strict=True)))
        + literals[-1]
    )
    (segment,) = parse_template("/" + part).segments
    if segment.kind != MIXED:  # a lone parameter is a whole segment, not a mixed one
        return
    assert segment.pattern is not None
    expected = re.fullmatch(segment.pattern, value) is not None
    assert segment.matches(value) == expected, (part, value)


def test_mixed_segments_compile_no_regex_per_rule() -> None:
    """The first request to each of many mixed rules compiles nothing: the only regexes
    a lookup runs are the converters' own, shared by every rule (counted, not timed)."""
    router: Router[str] = Router()
    for i in range(2_000):
        router.add(parse_template(f"/files/{{name}}.v{i}"), None, f"v{i}")
        router.add(parse_template(f"/n/{{a:int}}-{{b:int}}.r{i}"), None, f"n{i}")
    before = _compiled.cache_info().currsize
    for i in range(0, 2_000, 7):
        assert router.match(f"/files/report{i}.v{i}", "GET") == f"v{i}"
        assert router.match(f"/n/1-2.r{i}", "GET") == f"n{i}"
        assert router.match(f"/n/1-x.r{i}", "GET") is None
    assert _compiled.cache_info().currsize - before <= len(CONVERTERS)
