"""The compiled decisions: shared by equal requirements, ranked refusals, one answers table."""

from __future__ import annotations

import pytest

import asgi_auth as aa
from asgi_auth.decision import Answers, AnyOf, OneScheme, Outcome, Public, compile_decision
from tests.conftest import Recorder, call_asgi, http_scope

pytestmark = pytest.mark.anyio

TOKENS = {"good": aa.Principal("alice", ["me"]), "weak": aa.Principal("bob")}
bearer = aa.HTTPBearer(verifier=aa.inline(TOKENS.get))
key = aa.APIKeyHeader(name="X-Key", verifier=aa.inline({"k": aa.Principal("svc")}.get))


def test_each_shape_compiles_to_its_decision() -> None:
    policy = aa.AuthPolicy(
        [
            aa.Rule("/public", require=[]),
            aa.Rule("/one", require={bearer: ["me"]}),
            aa.Rule("/either", require=[bearer, key]),
            aa.Rule("/both", require={bearer: [], key: []}),
        ],
        default=bearer,
    )
    kinds = {path: type(policy.match(path, "GET").decision) for path in ("/public", "/one", "/either", "/both")}
    assert kinds == {"/public": Public, "/one": OneScheme, "/either": AnyOf, "/both": AnyOf}


def test_equal_requirements_share_one_decision_and_keep_their_own_rule() -> None:
    rules = [aa.Rule(f"/r{i}", require={bearer: ["me"]}) for i in range(100)]
    rules += [aa.Rule(f"/s{i}", require=bearer) for i in range(100)]
    policy = aa.AuthPolicy(rules, default=bearer)
    decisions = {id(policy.match(f"/r{i}", "GET").decision) for i in range(100)}
    assert len(decisions) == 1
    # `bearer` and `{bearer: []}` normalise alike: the default shares the /s rules' decision.
    assert policy.match("/s7", "GET").decision is policy.default.decision
    assert policy.match("/r1", "GET").rule == "/r1" and policy.match("/r2", "GET").rule == "/r2"


async def test_a_shared_decision_never_hands_one_rules_context_to_another() -> None:
    policy = aa.AuthPolicy([aa.Rule("/a", require=bearer), aa.Rule("/b", require=bearer)], default=[])
    inner = Recorder()
    app = aa.AuthMiddleware(inner, policy)
    headers = [(b"authorization", b"Bearer good")]
    for path in ("/a", "/b", "/a", "/b"):
        await call_asgi(app, http_scope(path, headers=headers))
    contexts = [scope["state"]["auth"] for scope in inner.scopes]
    assert [c.rule for c in contexts] == ["/a", "/b", "/a", "/b"]
    assert contexts[0] is contexts[2] and contexts[1] is contexts[3]  # kept per rule
    assert contexts[0] is not contexts[1]


def test_outcomes_rank_refusals_by_what_they_tell_the_client() -> None:
    assert Outcome.MISSING < Outcome.MALFORMED < Outcome.REJECTED < Outcome.FORBIDDEN < Outcome.UNUSABLE


async def test_the_highest_outcome_is_answered_when_no_alternative_succeeds() -> None:
    policy = aa.AuthPolicy([], default=[{bearer: ["me"]}, key])
    app = aa.AuthMiddleware(Recorder(), policy)

    async def status(headers: list[tuple[bytes, bytes]]) -> int:
        return int((await call_asgi(app, http_scope("/", headers=headers)))[0]["status"])

    assert await status([]) == 401  # MISSING for both
    assert await status([(b"x-key", b"nope")]) == 401  # REJECTED beats MISSING
    assert await status([(b"authorization", b"Bearer weak"), (b"x-key", b"nope")]) == 403  # FORBIDDEN beats REJECTED
    twice = [(b"authorization", b"Bearer good"), (b"authorization", b"Bearer weak")]
    assert await status([*twice, (b"x-key", b"nope")]) == 400  # UNUSABLE beats everything


def test_answers_are_built_once_except_those_with_a_fresh_nonce() -> None:
    answers = Answers((bearer,))
    assert answers(Outcome.MISSING) is answers(Outcome.MISSING)
    assert answers(Outcome.REJECTED, bearer) is answers(Outcome.REJECTED, bearer)
    assert answers(Outcome.FORBIDDEN, bearer, ("me",)) is answers(Outcome.FORBIDDEN, bearer, ("me",))
    assert answers(Outcome.FORBIDDEN, bearer, ("me",)).status == 403
    digest = aa.HTTPDigest(realm="r", verifier=aa.inline({"u": "p"}.get), secret=b"s" * 32)
    fresh = Answers((digest,))
    first, second = fresh(Outcome.MISSING), fresh(Outcome.MISSING)
    assert first is not second and first.error.challenges != second.error.challenges  # a new nonce each


def test_compile_of_public_is_public() -> None:
    assert compile_decision(None).public
    assert not compile_decision(aa.AuthPolicy([], default=bearer).default.alternatives).public
