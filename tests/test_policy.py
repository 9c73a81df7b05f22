from __future__ import annotations

import pytest

import asgi_auth as aa

bearer = aa.OAuth2PasswordBearer(tokenUrl="token", scopes={"me": "Me", "items": "Items"}, verifier=aa.EXTRACT_ONLY)
key = aa.APIKeyHeader(name="X-Key", verifier=aa.EXTRACT_ONLY)


def test_default_is_required_and_the_error_says_why() -> None:
    with pytest.raises(aa.ConfigurationError, match=r"default=\[\] to leave them open"):
        aa.AuthPolicy([aa.Rule("/a", require=bearer)])


def test_requirements_normalise_to_openapi_shapes() -> None:
    policy = aa.AuthPolicy(
        [
            aa.Rule("/one", require=bearer),
            aa.Rule("/scoped", require={bearer: ["me", "items"]}),
            aa.Rule("/and", require={bearer: ["me"], key: []}),
            aa.Rule("/or", require=[{bearer: ["me"]}, key]),
            aa.Rule("/public", require=[]),
            aa.Rule("/optional", require=[{}, bearer]),
            aa.Rule("/by-name", require={"OAuth2PasswordBearer": ["me"]}),
        ],
        default=key,
    )
    shapes = {path: policy.match(path, "GET").openapi() for path in ["/one", "/scoped", "/and", "/or", "/public"]}
    assert shapes == {
        "/one": [{"OAuth2PasswordBearer": []}],
        "/scoped": [{"OAuth2PasswordBearer": ["me", "items"]}],
        "/and": [{"OAuth2PasswordBearer": ["me"], "APIKeyHeader": []}],
        "/or": [{"OAuth2PasswordBearer": ["me"]}, {"APIKeyHeader": []}],
        "/public": [],
    }
    assert policy.match("/optional", "GET").openapi() == [{}, {"OAuth2PasswordBearer": []}]
    assert policy.match("/by-name", "GET").openapi() == [{"OAuth2PasswordBearer": ["me"]}]
    assert policy.match("/unmatched", "GET") is policy.default
    assert policy.default.openapi() == [{"APIKeyHeader": []}]


def test_auto_error_false_is_optional_in_openapi() -> None:
    optional = aa.HTTPBearer(auto_error=False, verifier=aa.EXTRACT_ONLY)
    policy = aa.AuthPolicy([], default=optional)
    assert policy.default.openapi() == [{}, {"HTTPBearer": []}]
    assert policy.default.anonymous_allowed


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([aa.Rule("/a", require="Nope")], "rule '/a': unknown scheme name 'Nope'"),
        ([aa.Rule("/a", require={bearer: ["admin"]})], "rule '/a': scope.* admin are not declared"),
        ([aa.Rule("/a", require=bearer), aa.Rule("/a", require=key)], "rules '/a' and '/a' tie"),
        ([aa.Rule("/a", require={bearer: "me"})], "must be a list"),
        ([aa.Rule("/a", require=42)], "is not a scheme"),  # type: ignore[arg-type]
        (
            [
                aa.Rule(
                    "/a",
                    require=[
                        aa.APIKeyHeader(name="a", verifier=aa.EXTRACT_ONLY),
                        aa.APIKeyHeader(name="b", verifier=aa.EXTRACT_ONLY),
                    ],
                )
            ],
            "two different schemes",
        ),
        ([aa.Rule("/a", require={bearer: ["me items"]})], "is not a scope"),
    ],
)
def test_configuration_mistakes_name_the_rule(rules: list[aa.Rule], message: str) -> None:
    with pytest.raises(aa.ConfigurationError, match=message):
        aa.AuthPolicy(rules, default=[])


@pytest.mark.parametrize("bad", ["/a/{", "relative", "/x/{y:nope}"])
def test_malformed_template_fails_at_rule_creation(bad: str) -> None:
    with pytest.raises(aa.ConfigurationError, match="path template"):
        aa.Rule(bad, require=[])


def test_methods_are_validated() -> None:
    with pytest.raises(aa.ConfigurationError, match="must be a list"):
        aa.Rule("/a", methods="GET", require=[])  # type: ignore[arg-type]
    with pytest.raises(aa.ConfigurationError, match="unknown HTTP method"):
        aa.Rule("/a", methods=["FETCH"], require=[])
    assert aa.Rule("/a", methods=["get"], require=[]).methods == frozenset({"GET"})


def test_schemes_named_only_by_string_are_declared_with_schemes() -> None:
    policy = aa.AuthPolicy(
        [aa.Rule("/a", require="X-Key")],
        default=[],
        schemes=[aa.APIKeyHeader(name="k", scheme_name="X-Key", verifier=aa.EXTRACT_ONLY)],
    )
    assert policy.match("/a", "GET").openapi() == [{"X-Key": []}]


def test_open_id_connect_accepts_any_scope() -> None:
    oidc = aa.OpenIdConnect(
        openIdConnectUrl="https://id.example/.well-known/openid-configuration", verifier=aa.EXTRACT_ONLY
    )
    policy = aa.AuthPolicy([aa.Rule("/a", require={oidc: ["openid", "email"]})], default=[])
    assert policy.match("/a", "GET").openapi() == [{"OpenIdConnect": ["openid", "email"]}]


def test_match_memo_is_bounded() -> None:
    from asgi_auth import policy as policy_module

    policy = aa.AuthPolicy([aa.Rule("/a/{x}", require=[])], default=key)
    for i in range(policy_module._MEMO_SIZE + 10):
        assert policy.match(f"/a/{i}", "GET").rule == "/a/{x}"
    assert len(policy._memo) <= policy_module._MEMO_SIZE
    assert policy.match("/a/" + "x" * 1000, "GET").rule == "/a/{x}"
    assert ("/a/" + "x" * 1000, "GET") not in policy._memo
    assert policy.match("/b", "GET") is policy.default


@pytest.mark.parametrize(
    "scheme",
    [
        aa.APIKeyHeader(name="X-Key"),
        aa.HTTPBearer(),
        aa.OAuth2PasswordBearer(tokenUrl="token"),
        aa.OpenIdConnect(openIdConnectUrl="https://id.example/.well-known/openid-configuration", discover=False),
    ],
    ids=lambda s: type(s).__name__,
)
def test_a_scheme_without_verifier_is_refused_with_both_ways_out(scheme: aa.SecurityScheme) -> None:
    """Extract-only lets any credential through: a policy takes it only when chosen."""
    with pytest.raises(aa.ConfigurationError) as refused:
        aa.AuthPolicy([aa.Rule("/a", require=scheme)], default=[])
    message = str(refused.value)
    assert repr(scheme.scheme_name) in message and "verifier=" in message and "aa.EXTRACT_ONLY" in message
    with pytest.raises(aa.ConfigurationError, match="no verifier"):
        aa.AuthPolicy([], default=scheme)


def test_extract_only_is_an_explicit_choice() -> None:
    scheme = aa.APIKeyHeader(name="X-Key", verifier=aa.EXTRACT_ONLY)
    assert scheme.extract_only and scheme.verifier is None
    assert repr(aa.EXTRACT_ONLY) == "aa.EXTRACT_ONLY"
    aa.AuthPolicy([aa.Rule("/a", require=scheme)], default=[])
